-- Cluster replicas: each hold carries the replica responsible for it, and each replica
-- records that it is alive (on the database's clock), so that a replica's open holds are
-- recovered only once it is gone, and by exactly one survivor (ReplicaHoldStore).
ALTER TABLE holds ADD COLUMN IF NOT EXISTS replica_id text;
CREATE INDEX IF NOT EXISTS holds_open_replica_idx ON holds (replica_id) WHERE status = 'open';

CREATE TABLE IF NOT EXISTS replica_heartbeats (
    replica_id  text PRIMARY KEY,
    seen_at     timestamptz NOT NULL DEFAULT now()
);
