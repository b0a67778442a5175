-- Two-factor sign-in (TOTP, RFC 6238). One row per account that has enabled it or is enrolling:
-- `secret` is the confirmed secret, `pending_secret` an enrolment waiting for its first valid
-- code; both are sealed with a key derived from the keys folder's pepper (like the Higher
-- Logic API key). `last_step` is the last time step accepted, so that a code is never taken
-- twice.
CREATE TABLE account_two_factor (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    secret TEXT,
    pending_secret TEXT,
    last_step BIGINT NOT NULL DEFAULT 0,
    enabled_at BIGINT,
    updated_at BIGINT NOT NULL
);

-- Single-use recovery codes, stored as keyed hashes (HMAC with the pepper).
CREATE TABLE account_recovery_codes (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (account_id, code_hash)
);

-- Known devices (OWASP's device cookies): a browser that signed in as an account before has
-- its own failure counter, so that failures from elsewhere do not delay it. The counters are
-- short-lived (an hour), so the table is made anew with the third kind.
DROP TABLE login_throttle;
CREATE TABLE login_throttle (
    kind TEXT NOT NULL CHECK (kind IN ('account', 'address', 'device')),
    subject TEXT NOT NULL,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    -- No attempt is checked before this time.
    blocked_until BIGINT NOT NULL,
    PRIMARY KEY (kind, subject)
);
CREATE INDEX login_throttle_last ON login_throttle (last_failure_at);
