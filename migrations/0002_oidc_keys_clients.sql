-- OpenID Connect provider, part 1: signing keys, client registrations, login throttling,
-- invitation / password-reset tokens. Private keys and the client-secret pepper are files in
-- keys_dir, never rows; the rows hold what every instance must agree on.

CREATE TABLE oidc_signing_keys (
    -- RFC 7638 JWK thumbprint of the public key.
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL CHECK (alg IN ('RS256', 'ES256')),
    -- The public JWK (JSON), as published.
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Published from created_at; signs from activates_at (one JWKS cache lifetime later).
    activates_at BIGINT NOT NULL,
    -- Unpublished from retire_at (set when a newer key replaces it).
    retire_at BIGINT
);
CREATE INDEX oidc_signing_keys_alg ON oidc_signing_keys (alg, activates_at);

-- Fingerprints of secret files in keys_dir, so an instance with a different file refuses to start.
CREATE TABLE oidc_key_material (
    name TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE oidc_clients (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    client_type TEXT NOT NULL CHECK (client_type IN ('confidential', 'public')),
    -- base64url HMAC-SHA256 of the secret under the pepper; NULL for public clients.
    secret_hash TEXT,
    secret_set_at BIGINT,
    -- JSON arrays of exact strings.
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
    allowed_scopes TEXT NOT NULL,
    -- JSON array of client_secret_basic / client_secret_post, or ["none"] for public clients.
    token_endpoint_auth_methods TEXT NOT NULL,
    require_pkce BIGINT NOT NULL DEFAULT 1 CHECK (require_pkce IN (0, 1)),
    id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256'
        CHECK (id_token_signed_response_alg IN ('RS256', 'ES256')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- PKCE may be switched off only for confidential clients (RFC 9700 2.1.1).
    CHECK (client_type = 'confidential' OR require_pkce = 1),
    CHECK ((client_type = 'confidential') = (secret_hash IS NOT NULL))
);

-- Failed sign-ins, per login e-mail and per client address ("account" / "address").
CREATE TABLE login_throttle (
    kind TEXT NOT NULL CHECK (kind IN ('account', 'address')),
    subject TEXT NOT NULL,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    -- No attempt is checked before this time.
    blocked_until BIGINT NOT NULL,
    PRIMARY KEY (kind, subject)
);
CREATE INDEX login_throttle_last ON login_throttle (last_failure_at);

-- Invitation and password-reset links: single use, expiring, stored hashed.
CREATE TABLE account_tokens (
    -- SHA-256 (base64url) of the token.
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('invitation', 'password_reset')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX account_tokens_account ON account_tokens (account_id);
