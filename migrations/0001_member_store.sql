-- The AMS side: members (people and companies), user accounts, custom fields, groups and the
-- change log. One dialect for SQLite and PostgreSQL: ids are application-generated text
-- (UUIDv7), times are BIGINT milliseconds since the Unix epoch, and flags are BIGINT 0/1 (sqlx's Any
-- driver cannot decode SQLite booleans).

CREATE TABLE members (
    id TEXT PRIMARY KEY,
    -- The stable key Higher Logic knows the contact by (LegacyContactKey) and the OIDC `sub`.
    member_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('person', 'company')),
    first_name TEXT,
    last_name TEXT,
    -- A company's name (people carry their company through company_id).
    name TEXT,
    email TEXT,
    phone TEXT,
    address_line1 TEXT,
    city TEXT,
    state TEXT,
    postal_code TEXT,
    country TEXT,
    website_url TEXT,
    bio TEXT,
    profile_image_url TEXT,
    linkedin_url TEXT,
    twitter_url TEXT,
    facebook_url TEXT,
    company_id TEXT REFERENCES members (id),
    member_type TEXT,
    membership_status TEXT,
    member_since TEXT,
    membership_expires TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (kind = 'person' OR company_id IS NULL)
);
CREATE INDEX members_company ON members (company_id);
CREATE INDEX members_member_type ON members (member_type);
CREATE INDEX members_membership_status ON members (membership_status);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL UNIQUE REFERENCES members (id),
    -- Stored lower-cased; the login name.
    login_email TEXT NOT NULL UNIQUE,
    -- argon2id PHC string; NULL until the member sets a password.
    password_hash TEXT,
    must_change_password BIGINT NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    state TEXT NOT NULL CHECK (state IN ('active', 'deactivated')),
    role TEXT NOT NULL CHECK (role IN ('member', 'admin')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deactivated_at BIGINT
);

CREATE TABLE custom_fields (
    id TEXT PRIMARY KEY,
    field_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    field_type TEXT NOT NULL CHECK (field_type IN ('text', 'number', 'boolean', 'date', 'choice')),
    -- JSON array of allowed values for 'choice' fields.
    choices TEXT NOT NULL DEFAULT '[]',
    applies_to TEXT NOT NULL CHECK (applies_to IN ('person', 'company', 'both')),
    show_in_members BIGINT NOT NULL DEFAULT 0 CHECK (show_in_members IN (0, 1)),
    sync_to_higher_logic BIGINT NOT NULL DEFAULT 0 CHECK (sync_to_higher_logic IN (0, 1)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- Only a field shown in the Members section can be synced to Higher Logic.
    CHECK (show_in_members = 1 OR sync_to_higher_logic = 0)
);

CREATE TABLE custom_field_values (
    member_id TEXT NOT NULL REFERENCES members (id),
    field_id TEXT NOT NULL REFERENCES custom_fields (id),
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, field_id)
);
CREATE INDEX custom_field_values_field ON custom_field_values (field_id, value);

CREATE TABLE member_groups (
    id TEXT PRIMARY KEY,
    -- The group's own stable key; Higher Logic's GroupKey (Legacy Group Key).
    group_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    selection TEXT NOT NULL CHECK (selection IN ('static', 'conditions')),
    -- JSON array of conditions, all of which a member must meet.
    conditions TEXT NOT NULL DEFAULT '[]',
    -- Higher Logic settings, filled by the sync engine.
    hl_sync_enabled BIGINT NOT NULL DEFAULT 0 CHECK (hl_sync_enabled IN (0, 1)),
    hl_group_type TEXT CHECK (hl_group_type IN ('community', 'security')),
    hl_type_locked BIGINT NOT NULL DEFAULT 0 CHECK (hl_type_locked IN (0, 1)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE group_static_members (
    group_id TEXT NOT NULL REFERENCES member_groups (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL REFERENCES members (id),
    added_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_static_members_member ON group_static_members (member_id);

-- Every change to a member, account, custom field (or value) or group, written in the same
-- transaction as the change itself. The Higher Logic sync reads it.
CREATE TABLE change_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL,
    -- The contact whose Higher Logic record this change affects, if any.
    member_id TEXT,
    group_id TEXT,
    -- JSON object naming what changed; never secrets.
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX change_log_at ON change_log (at);
CREATE INDEX change_log_member ON change_log (member_id);
