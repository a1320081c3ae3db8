-- 0001: the initial schema. Every statement is idempotent (IF NOT EXISTS), although the
-- migration runner applies each version once (recorded in schema_migrations).
-- Money is integer micro-USD (bigint). Secrets are stored only as SHA-256 hex.

CREATE TABLE IF NOT EXISTS accounts (
    id                  text PRIMARY KEY,
    name                text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    balance_micro_usd   bigint NOT NULL DEFAULT 0,
    earnings_micro_usd  bigint NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_balance_nonnegative CHECK (balance_micro_usd >= 0),
    CONSTRAINT accounts_earnings_nonnegative CHECK (earnings_micro_usd >= 0)
);

CREATE TABLE IF NOT EXISTS api_keys (
    id            text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts (id),
    name          text NOT NULL,
    key_hash      text NOT NULL CONSTRAINT api_keys_hash_unique UNIQUE,
    prefix        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS api_keys_account_idx ON api_keys (account_id, created_at);

CREATE TABLE IF NOT EXISTS provider_tokens (
    id            text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts (id),
    name          text NOT NULL,
    token_hash    text NOT NULL CONSTRAINT provider_tokens_hash_unique UNIQUE,
    prefix        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS provider_tokens_account_idx
    ON provider_tokens (account_id, created_at);

CREATE TABLE IF NOT EXISTS providers (
    id                text PRIMARY KEY,
    owner_account_id  text NOT NULL REFERENCES accounts (id),
    public_key        text NOT NULL,
    trust             text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_seen_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS pricing (
    model                      text PRIMARY KEY,
    input_micro_usd_per_mtok   bigint NOT NULL CHECK (input_micro_usd_per_mtok >= 0),
    output_micro_usd_per_mtok  bigint NOT NULL CHECK (output_micro_usd_per_mtok >= 0),
    context_length             bigint CHECK (context_length > 0),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS ledger (
    id                bigserial PRIMARY KEY,
    account_id        text NOT NULL REFERENCES accounts (id),
    amount_micro_usd  bigint NOT NULL,
    kind              text NOT NULL CHECK (kind IN
                          ('topup', 'hold', 'settle', 'release', 'earning', 'payout',
                           'adjustment')),
    reference         text NOT NULL,
    idempotency_key   text NOT NULL CONSTRAINT ledger_idempotency_key_unique UNIQUE,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ledger_account_idx ON ledger (account_id, id);

CREATE TABLE IF NOT EXISTS holds (
    request_id                  text CONSTRAINT holds_request_unique PRIMARY KEY,
    account_id                  text NOT NULL REFERENCES accounts (id),
    amount_micro_usd            bigint NOT NULL CHECK (amount_micro_usd >= 0),
    status                      text NOT NULL DEFAULT 'open'
                                    CHECK (status IN ('open', 'settled', 'released')),
    created_at                  timestamptz NOT NULL DEFAULT now(),
    closed_at                   timestamptz,
    charged_micro_usd           bigint CHECK (charged_micro_usd BETWEEN 0 AND amount_micro_usd),
    provider_account_id         text REFERENCES accounts (id),
    provider_earning_micro_usd  bigint NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS holds_open_idx ON holds (account_id) WHERE status = 'open';

CREATE TABLE IF NOT EXISTS usage_records (
    id                 bigserial PRIMARY KEY,
    request_id         text NOT NULL,
    account_id         text NOT NULL REFERENCES accounts (id),
    api_key_id         text,
    provider_id        text,
    model              text NOT NULL,
    prompt_tokens      bigint NOT NULL,
    completion_tokens  bigint NOT NULL,
    cost_micro_usd     bigint NOT NULL,
    ttft_ms            bigint,
    duration_ms        bigint,
    outcome            text NOT NULL,
    created_at         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_records_account_idx
    ON usage_records (account_id, created_at DESC);

CREATE TABLE IF NOT EXISTS stripe_events (
    event_id          text PRIMARY KEY,
    account_id        text NOT NULL REFERENCES accounts (id),
    amount_micro_usd  bigint NOT NULL CHECK (amount_micro_usd > 0),
    processed_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS payouts (
    id                text PRIMARY KEY,
    account_id        text NOT NULL REFERENCES accounts (id),
    amount_micro_usd  bigint NOT NULL CHECK (amount_micro_usd > 0),
    idempotency_key   text NOT NULL CONSTRAINT payouts_idempotency_key_unique UNIQUE,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS payouts_account_idx ON payouts (account_id, created_at);
