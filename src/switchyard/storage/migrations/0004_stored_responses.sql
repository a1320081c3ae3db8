-- Stored Responses (POST /v1/responses with store): per account, each with an expiry.
-- `conversation` is what previous_response_id continues (input items, then output items);
-- `response` the object GET /v1/responses/{id} shows; `size_bytes` counts against the
-- account's bound (oldest evicted first, by `seq` within one timestamp).
CREATE TABLE IF NOT EXISTS stored_responses (
    id           text PRIMARY KEY,
    seq          bigserial NOT NULL,
    account_id   text NOT NULL REFERENCES accounts (id),
    conversation jsonb NOT NULL,
    response     jsonb NOT NULL,
    size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS stored_responses_account ON stored_responses (account_id, created_at);
CREATE INDEX IF NOT EXISTS stored_responses_expiry ON stored_responses (expires_at);
