-- One row (id = 1): how the member-facing pages and e-mails look (the console's Sign-in page
-- settings). Without a row the built-in defaults apply.
CREATE TABLE branding (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    -- https only (checked by the application); empty: no logo.
    logo_url TEXT NOT NULL DEFAULT '',
    -- #rrggbb, dark enough for white text.
    primary_color TEXT NOT NULL,
    support_email TEXT NOT NULL DEFAULT '',
    -- https only; empty: no link.
    privacy_url TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);
