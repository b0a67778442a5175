-- The Higher Logic sync engine: integration settings, the transactional outbox (a queue of
-- contacts to push, fed in the same transaction as each change), and what Higher Logic was last
-- told, so that leaving a group (or turning a group's sync off) is pushed too.

-- One row (id = 1): the integration settings an administrator enters.
CREATE TABLE hl_settings (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    tenant_code TEXT NOT NULL DEFAULT '',
    -- Sent as x-api-key; shown only masked.
    api_key TEXT NOT NULL DEFAULT '',
    base_url TEXT NOT NULL DEFAULT 'https://data.higherlogic.com/push/v1/members',
    -- Whether Higher Logic activated MembershipIntegrateBio, IntegrateProfileImage and
    -- IntegrateSocialMediaSites for the tenant (as the administrator recorded it).
    integrate_bio BIGINT NOT NULL DEFAULT 0 CHECK (integrate_bio IN (0, 1)),
    integrate_profile_image BIGINT NOT NULL DEFAULT 0 CHECK (integrate_profile_image IN (0, 1)),
    integrate_social BIGINT NOT NULL DEFAULT 0 CHECK (integrate_social IN (0, 1)),
    updated_at BIGINT NOT NULL
);

-- Groups that had sync turned on at least once: the link to their Higher Logic group.
CREATE TABLE hl_groups (
    group_id TEXT PRIMARY KEY REFERENCES member_groups (id),
    group_key TEXT NOT NULL UNIQUE,
    group_type TEXT NOT NULL CHECK (group_type IN ('community', 'security')),
    sync_on_at BIGINT NOT NULL,
    -- Last time a push carrying (or removing) this group was accepted.
    last_pushed_at BIGINT
);

-- Contacts to push: one row per contact however many changes arrived (coalescing).
CREATE TABLE hl_queue (
    member_id TEXT PRIMARY KEY REFERENCES members (id),
    -- Time of the oldest change not yet pushed (for latency and status).
    first_change_at BIGINT NOT NULL,
    -- Bumped by every new change; a push completes the row only if it is unchanged.
    version BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    -- A worker's claim; expires so that a killed worker's work is taken up again.
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    -- Higher Logic rejected the record (4xx): kept with its error, not retried until it
    -- changes again or an administrator retries it.
    parked BIGINT NOT NULL DEFAULT 0 CHECK (parked IN (0, 1)),
    last_error TEXT
);
CREATE INDEX hl_queue_due ON hl_queue (parked, next_attempt_at);

-- Changes that affect many contacts (a group renamed, re-conditioned, synced on or off; a
-- custom field's sync flag), expanded into hl_queue by the worker.
CREATE TABLE hl_fanout (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL CHECK (scope IN ('group', 'all', 'company')),
    target_id TEXT,
    created_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0
);

-- What Higher Logic accepted last for each contact, and its synced groups then.
CREATE TABLE hl_contacts (
    member_id TEXT PRIMARY KEY REFERENCES members (id),
    pushed_at BIGINT NOT NULL
);
CREATE TABLE hl_memberships (
    member_id TEXT NOT NULL REFERENCES members (id),
    group_id TEXT NOT NULL REFERENCES member_groups (id),
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX hl_memberships_member ON hl_memberships (member_id);

-- Synced custom fields as the outbox last saw them, to notice a field joining or leaving the
-- sync (or being renamed) and re-push every contact then.
CREATE TABLE hl_synced_fields (
    field_id TEXT PRIMARY KEY REFERENCES custom_fields (id),
    name TEXT NOT NULL
);

-- One row (id = 1): the engine's shared state, for the status pages.
CREATE TABLE hl_engine_state (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    -- Set while Higher Logic is unreachable or refuses the credentials.
    paused_until BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    last_error_at BIGINT,
    last_success_at BIGINT
);
INSERT INTO hl_engine_state (id) VALUES (1);
