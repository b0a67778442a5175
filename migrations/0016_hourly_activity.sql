-- What the provider did, hour by hour, for the console's Overview: sign-ins by outcome and
-- tokens issued per application. Every instance adds its counts (src/activity.rs), so every
-- instance shows the same picture; the janitor deletes hours older than a month.
CREATE TABLE hourly_activity (
    -- The start of the hour, milliseconds since the epoch (UTC).
    hour_start BIGINT NOT NULL,
    -- sign_in_success, sign_in_failure, tokens_issued
    tally TEXT NOT NULL,
    -- What it concerns: the client id for tokens, empty otherwise.
    label TEXT NOT NULL DEFAULT '',
    events BIGINT NOT NULL,
    PRIMARY KEY (hour_start, tally, label)
);
