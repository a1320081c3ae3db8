-- Per-key rate limits (requests and tokens per minute); a missing row means the defaults.
CREATE TABLE IF NOT EXISTS api_key_limits (
    key_id      text PRIMARY KEY REFERENCES api_keys (id),
    rpm         integer CHECK (rpm IS NULL OR rpm > 0),
    tpm         integer CHECK (tpm IS NULL OR tpm > 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
