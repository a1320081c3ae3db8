"""Prometheus metrics of the coordinator (one registry; served at GET /metrics).

Events are counted where they happen (requests, tokens, challenges, money). State that
lives inside actors — reservations, queues, providers by status, restarts, mailboxes — is
sampled when Prometheus scrapes: the `/metrics` route asks the actors, stores the answer
in `SAMPLED.sample`, and the collector turns it into gauges and counters.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

REQUESTS = Counter(
    "switchyard_requests", "Consumer requests by route, model and status",
    ["route", "model", "status"], registry=REGISTRY,
)  # fmt: skip
TTFT = Histogram(
    "switchyard_time_to_first_token_seconds", "Time to first relayed token", ["route"],
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
LATENCY = Histogram(
    "switchyard_request_duration_seconds", "Total request latency", ["route"],
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
ACTIVE_STREAMS = Gauge(
    "switchyard_active_requests", "Consumer requests in progress", registry=REGISTRY
)
RELAYED_TOKENS = Counter(
    "switchyard_relayed_tokens", "Tokens relayed from providers to consumers", registry=REGISTRY
)
QUEUE_WAIT = Histogram(
    "switchyard_reservation_wait_seconds", "Time from Reserve to a grant or refusal",
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
CHALLENGES = Counter(
    "switchyard_challenges", "Provider challenges by verdict", ["verdict"], registry=REGISTRY
)
RATE_LIMITED = Counter(
    "switchyard_rate_limited", "Requests refused by a rate limit", ["limit"], registry=REGISTRY
)
EXACT_PROMPT_COUNTS = Counter(
    "switchyard_exact_prompt_counts",
    "Requests whose output budget asked a provider's tokenizer for the prompt count, by "
    "result (counted, or estimated when no provider could count)",
    ["result"],
    registry=REGISTRY,
)
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
STORE_LATENCY = Histogram(
    "switchyard_store_call_seconds", "Store call latency by method", ["method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1), registry=REGISTRY,
)  # fmt: skip


@dataclass
class Sample:
    """What the /metrics route read from the actors just before rendering."""

    scheduler: dict[str, Any] = field(default_factory=dict)
    providers: list[dict[str, Any]] = field(default_factory=list)
    actors: list[dict[str, Any]] = field(default_factory=list)  # flattened snapshot nodes
    dead_letters: int = 0
    cluster: dict[str, float] | None = None  # cluster mode only (see `cluster_sample`)


class SampledCollector(Collector):
    """Turns the latest `Sample` into metric families."""

    def __init__(self) -> None:
        self.sample = Sample()

    def collect(self) -> Iterator[Metric]:
        s = self.sample
        counters = s.scheduler.get("counters", {})
        reservations = CounterMetricFamily(
            "switchyard_reservations", "Scheduler reservations by result", labels=["result"]
        )
        for result in ("granted", "queued", "refused"):
            reservations.add_metric([result], float(counters.get(result, 0)))
        yield reservations
        reserved = GaugeMetricFamily(
            "switchyard_reserved_slots", "Slots reserved now, by model", labels=["model"]
        )
        for model, n in s.scheduler.get("reserved_by_model", {}).items():
            reserved.add_metric([model], float(n))
        yield reserved
        queued = GaugeMetricFamily(
            "switchyard_queued_requests", "Requests waiting for a slot, by model", labels=["model"]
        )
        for model, n in s.scheduler.get("queued_by_model", {}).items():
            queued.add_metric([model], float(n))
        yield queued
        providers = GaugeMetricFamily(
            "switchyard_providers", "Connected providers by status and trust",
            labels=["status", "trust"],
        )  # fmt: skip
        counts: dict[tuple[str, str], int] = {}
        for p in s.providers:
            key = (str(p.get("status")), str(p.get("trust")))
            counts[key] = counts.get(key, 0) + 1
        for (status, trust), n in counts.items():
            providers.add_metric([status, trust], float(n))
        yield providers
        unhealthy = sum(1 for p in s.providers if not p.get("upstream", {}).get("healthy", True))
        yield GaugeMetricFamily(
            "switchyard_providers_upstream_unhealthy",
            "Connected providers whose agent reports its upstream down (unroutable)",
            value=float(unhealthy),
        )
        restarts = CounterMetricFamily(
            "switchyard_actor_restarts", "Restarts of live actors", labels=["path"]
        )
        depth = GaugeMetricFamily(
            "switchyard_mailbox_depth", "Messages waiting in an actor's mailbox", labels=["path"]
        )
        for node in s.actors:
            if not node["path"].startswith("/root/providers/"):  # per-provider: too many series
                restarts.add_metric([node["path"]], float(node["restarts"]))
                depth.add_metric([node["path"]], float(node["mailbox"]["depth"]))
        yield restarts
        yield depth
        yield CounterMetricFamily(
            "switchyard_dead_letters", "Messages sent to stopped actors", value=s.dead_letters
        )
        if s.cluster is not None:
            yield from _cluster_families(s.cluster)


def _shared_kv_families(
    c: dict[str, float], prefix: str, what: str, results: tuple[str, ...]
) -> Iterator[Metric]:
    """`switchyard_<prefix>_shared_decisions{result}` and `..._shared_conflicts` of one
    compare-and-set user of NATS KV (its counters are `<prefix>_<result>`)."""
    decisions = CounterMetricFamily(
        f"switchyard_{prefix}_shared_decisions", f"Decisions of {what}, by result",
        labels=["result"],
    )  # fmt: skip
    for result in results:
        decisions.add_metric([result], c.get(f"{prefix}_{result}", 0.0))
    yield decisions
    yield CounterMetricFamily(
        f"switchyard_{prefix}_shared_conflicts",
        f"Compare-and-set writes of {what} lost to another replica (retried)",
        value=c.get(f"{prefix}_conflicts", 0.0),
    )


def _cluster_families(c: dict[str, float]) -> Iterator[Metric]:
    """Cluster mode: the NATS link, live replicas, the shared rate limiter and throttles."""
    yield GaugeMetricFamily(
        "switchyard_cluster_nats_connected",
        "1 while this replica is connected to NATS (0: serving its own providers alone)",
        value=c.get("nats_connected", 0.0),
    )
    yield GaugeMetricFamily(
        "switchyard_cluster_live_replicas", "Replicas this one sees live (itself included)",
        value=c.get("live_replicas", 0.0),
    )  # fmt: skip
    yield from _shared_kv_families(
        c,
        "ratelimit",
        "the shared (NATS KV) limiter",
        ("admitted", "refused", "contended", "fallback"),
    )
    yield from _shared_kv_families(
        c, "throttle", "the shared (NATS KV) self-service throttles",
        ("counted", "refused", "contended", "fallback"),
    )  # fmt: skip


SAMPLED = SampledCollector()
REGISTRY.register(SAMPLED)
