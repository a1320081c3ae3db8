"""Cluster mode: several coordinator replicas sharing one NATS and one Postgres.

Without `--nats-url` nothing here is opened and the coordinator runs as one process.

Transport (the only code that imports nats: transport*.py):
- transport.py   Transport over NATS under trio-asyncio: publish in the caller's step (a
                 bounded queue past that), subscriptions into bounded trio channels or
                 synchronous handlers, request/reply, JetStream KV, status
- transport_open.py     open_transport: connect on its own trio-asyncio loop (keeps
                        trying in the background when NATS is unreachable at start); close
- transport_subs.py     subscriptions: made at once, or on the first connect; join
- transport_kv.py       KeyValue: a JetStream KV bucket (compare-and-set by revision)
- transport_objects.py  ObjectStore: a JetStream object store (values of any size, chunked)
- transport_records.py  Message, Entry, TransportStats, PendingRequest, its bounds
- transport_errors.py   translated_errors: nats-py's errors as TransportError subclasses
- errors.py      TransportUnavailable, TransportTimeout, KeyValueConflict, MessageTooLarge,
                 ObjectTooLarge
- ids.py         replica ids and cluster names (valid subject tokens); new_replica_id

Replicas:
- node.py        open_cluster: one replica's transport, membership and remote-actor
                 endpoint (runtime/remote.py) — the coordinator's optional `cluster`
- membership.py  heartbeats every 1 s, the live set, joined/lapsed/left events (lapse:
                 no heartbeat for 2.5 s, so dropped within 3 s)

Routing across replicas (providers on one replica serve consumers on any other):
- routing.py          open_routing: spawns the remote-providers actor, runs the rest
- capacity.py         CapacityPublisher (our providers' snapshots), CapacityMirror (theirs
                      into our scheduler; a silent or restarted replica lapses)
- remote_provider.py  RemoteProviderActor: the stand-in the scheduler dispatches remote
                      providers through; dispatch request, stream in, cancel, lapse
- stream_server.py    StreamServer: other replicas' requests on our providers (confirm the
                      slot, dispatch, pump batches, release)
- crossing_bodies.py  CrossingBodies: bodies too large for one NATS message go through a
                      bounded object store (put, fetched by the owner, deleted, TTL)
- routing_wire.py     the JSON of snapshots, dispatch requests/answers, cancels and batches

Cluster-wide state (what every replica must agree on):
- shared_ratelimit.py  SharedRateLimiter: per-key buckets in NATS KV (compare-and-set),
                 exact across replicas; the local limiter while NATS is away
- shared_throttle.py  SharedThrottle: self-service login/address/device-code windows in
                 NATS KV (compare-and-set), exact across replicas; local while NATS is away
- key_batches.py  KeyBatches: concurrent calls on one key decided together (one KV
                 write per batch), for the two above
- hold_recovery.py  HoldRecovery: store liveness; a gone replica's holds released once
- replica_calls.py  ReplicaCalls: admin calls to every live replica (answers + who did
                 not answer), change broadcasts that drop caches everywhere
- provider_reach.py  ProviderReach: live providers' commands and states wherever they are
                 connected (admin, self-service, public stats); local only alone
- state.py       open_cluster_state: the above wired to the coordinator (the
                 coordinator's optional `state`)
"""
