-- The Higher Logic sync under Higher Logic's failure modes: the batch size learnt from 413
-- answers (shared by every instance), parked contacts retried by themselves, and a group whose
-- key Higher Logic says belongs to a group made there.

-- The batch size in use after a 413 (0: the configured one) and the accepted batches since it
-- last changed (after a run of them it grows back towards the configured size).
ALTER TABLE hl_engine_state ADD COLUMN batch_size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hl_engine_state ADD COLUMN batch_successes BIGINT NOT NULL DEFAULT 0;

-- How many times Higher Logic refused this contact's record; a parked contact is queued again
-- by itself at next_attempt_at (15 min, 1 h, 6 h, then daily).
ALTER TABLE hl_queue ADD COLUMN refusals BIGINT NOT NULL DEFAULT 0;

-- Higher Logic said the group's key belongs to a group made there: the reason, shown on the
-- group, and the group is left out of its members' records until re-keyed or sync turned off.
ALTER TABLE hl_groups ADD COLUMN key_clash TEXT;
