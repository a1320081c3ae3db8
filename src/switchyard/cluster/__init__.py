"""Cluster mode: several coordinator replicas sharing one NATS and one Postgres.

Without `--nats-url` nothing here is opened and the coordinator runs as one process.

Transport (the only code that imports nats):
- transport.py   Transport over NATS under trio-asyncio: bulk publish queue, subscriptions
                 into bounded trio channels, request/reply, JetStream KV, status
- errors.py      TransportUnavailable, TransportTimeout, KeyValueConflict, MessageTooLarge
"""
