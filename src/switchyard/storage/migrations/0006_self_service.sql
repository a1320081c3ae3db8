-- 0006: self-service. Invite codes, logins (Argon2id passphrase hashes), browser sessions,
-- account-management keys, device codes that link a provider agent, the per-provider
-- leaderboard opt-in, and the indexes the per-day usage/earnings/stats queries read.
-- Secrets (codes, session tokens, keys, device codes) are stored only as SHA-256 hex.

CREATE TABLE IF NOT EXISTS invite_codes (
    id          text PRIMARY KEY,
    code_hash   text NOT NULL CONSTRAINT invite_codes_hash_unique UNIQUE,
    prefix      text NOT NULL,
    note        text NOT NULL DEFAULT '',
    max_uses    integer NOT NULL CHECK (max_uses > 0),
    uses        integer NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX IF NOT EXISTS invite_codes_created_idx ON invite_codes (created_at DESC);

CREATE TABLE IF NOT EXISTS account_logins (
    login           text PRIMARY KEY CHECK (login = lower(login)),
    account_id      text NOT NULL CONSTRAINT account_logins_account_unique UNIQUE
                        REFERENCES accounts (id),
    password_hash   text NOT NULL,
    invite_code_id  text REFERENCES invite_codes (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS account_sessions (
    token_hash  text PRIMARY KEY,
    id          text NOT NULL CONSTRAINT account_sessions_id_unique UNIQUE,
    account_id  text NOT NULL REFERENCES accounts (id),
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS account_sessions_account_idx
    ON account_sessions (account_id, created_at);

CREATE TABLE IF NOT EXISTS account_keys (
    id            text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts (id),
    name          text NOT NULL,
    key_hash      text NOT NULL CONSTRAINT account_keys_hash_unique UNIQUE,
    prefix        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS account_keys_account_idx ON account_keys (account_id, created_at);

CREATE TABLE IF NOT EXISTS device_codes (
    id           text PRIMARY KEY,
    device_hash  text NOT NULL CONSTRAINT device_codes_hash_unique UNIQUE,
    user_code    text NOT NULL CONSTRAINT device_codes_user_code_unique UNIQUE,
    name         text NOT NULL,
    interval_s   integer NOT NULL CHECK (interval_s > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    polled_at    timestamptz,
    approved_by  text REFERENCES accounts (id),
    decided_at   timestamptz,
    denied       boolean NOT NULL DEFAULT false,
    token_id     text REFERENCES provider_tokens (id),
    consumed_at  timestamptz
);
CREATE INDEX IF NOT EXISTS device_codes_expiry_idx ON device_codes (expires_at);

CREATE TABLE IF NOT EXISTS provider_listing (
    provider_id  text PRIMARY KEY REFERENCES providers (id),
    leaderboard  boolean NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS providers_owner_idx ON providers (owner_account_id, created_at);
CREATE INDEX IF NOT EXISTS usage_records_provider_idx
    ON usage_records (provider_id, created_at) WHERE provider_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS usage_records_created_idx ON usage_records (created_at);
