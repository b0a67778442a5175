-- Admin API tokens: scripts call /admin/api/ with one. Only a SHA-256 of the token is stored
-- (tokens carry 256 random bits, so a fast hash is enough and lookups stay O(1)).
CREATE TABLE admin_api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    -- The first characters of the token, shown to tell tokens apart; not a secret.
    token_prefix TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
