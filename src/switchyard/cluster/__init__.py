"""Cluster mode: several coordinator replicas sharing one NATS and one Postgres.

Without `--nats-url` nothing here is opened and the coordinator runs as one process.

Transport (the only code that imports nats):
- transport.py   Transport over NATS under trio-asyncio: bulk publish queue, subscriptions
                 into bounded trio channels, request/reply, JetStream KV, status
- errors.py      TransportUnavailable, TransportTimeout, KeyValueConflict, MessageTooLarge

Cluster-wide state (what every replica must agree on):
- shared_ratelimit.py  SharedRateLimiter: per-key buckets in NATS KV (compare-and-set),
                 exact across replicas; the local limiter while NATS is away
- hold_recovery.py  HoldRecovery: store liveness; a gone replica's holds released once
"""
