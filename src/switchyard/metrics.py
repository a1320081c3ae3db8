"""Prometheus metrics of the coordinator (one registry; served at GET /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry(auto_describe=True)

HOLDS = Counter(
    "switchyard_billing_holds", "Holds requested, by result", ["result"], registry=REGISTRY
)
SETTLEMENTS = Counter(
    "switchyard_billing_settlements",
    "Requests closed by the billing actor, by how (settled, released, failed)",
    ["result"],
    registry=REGISTRY,
)
USAGE_MISMATCH = Counter(
    "switchyard_usage_report_mismatch",
    "Provider usage reports that disagree with the relayed token count beyond tolerance",
    registry=REGISTRY,
)
