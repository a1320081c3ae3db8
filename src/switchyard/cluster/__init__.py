"""Cluster mode: several coordinator replicas sharing one NATS and one Postgres.

Without `--nats-url` nothing here is opened and the coordinator runs as one process.

Transport (the only code that imports nats):
- transport.py   Transport over NATS under trio-asyncio: bulk publish queue, subscriptions
                 into bounded trio channels, request/reply, JetStream KV, status
- errors.py      TransportUnavailable, TransportTimeout, KeyValueConflict, MessageTooLarge
- ids.py         replica ids and cluster names (valid subject tokens); new_replica_id

Replicas:
- node.py        open_cluster: one replica's transport, membership and remote-actor
                 endpoint (runtime/remote.py) — the coordinator's optional `cluster`
- membership.py  heartbeats every 1 s, the live set, joined/lapsed/left events (lapse:
                 no heartbeat for 2.5 s, so dropped within 3 s)

Cluster-wide state (what every replica must agree on):
- shared_ratelimit.py  SharedRateLimiter: per-key buckets in NATS KV (compare-and-set),
                 exact across replicas; the local limiter while NATS is away
- hold_recovery.py  HoldRecovery: store liveness; a gone replica's holds released once
- replica_calls.py  ReplicaCalls: admin calls to every live replica (answers + who did
                 not answer), change broadcasts that drop caches everywhere
- state.py       open_cluster_state: the above wired to the coordinator (the
                 coordinator's optional `state`)
"""
