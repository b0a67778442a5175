-- The OpenID Connect flow: browser sessions, authorization codes, access and refresh tokens.
-- Same dialect as 0001: text ids, BIGINT millisecond times. Every secret (session id, code,
-- token) is stored only as its SHA-256, so a copy of the database signs nobody in.

-- tower-sessions records. account_id is copied out of the session data so that deactivating an
-- account can end its sessions in the same transaction.
CREATE TABLE oidc_sessions (
    id_hash TEXT PRIMARY KEY,
    account_id TEXT,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_sessions_account ON oidc_sessions (account_id);
CREATE INDEX oidc_sessions_expires ON oidc_sessions (expires_at);

-- Authorization codes: single use, at most 60 s, bound to client, redirect URI and PKCE
-- challenge. grant_id names every token later issued from the code.
CREATE TABLE oidc_codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX oidc_codes_account ON oidc_codes (account_id);
CREATE INDEX oidc_codes_expires ON oidc_codes (expires_at);

-- Access and refresh tokens. All tokens from one code share grant_id (the refresh family):
-- a replayed code or refresh token revokes them all.
CREATE TABLE oidc_tokens (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- Refresh tokens: when it was exchanged for a new one (rotation).
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens (grant_id);
CREATE INDEX oidc_tokens_account ON oidc_tokens (account_id);
CREATE INDEX oidc_tokens_expires ON oidc_tokens (expires_at);
