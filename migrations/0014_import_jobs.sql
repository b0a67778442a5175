-- CSV imports started in the admin console: the uploaded file waits here between its dry run
-- and Apply, and the background task that checks or applies it writes its progress here, so
-- that any instance can show the progress page or apply the file. Finished jobs are deleted a
-- day after their last change (when the next import starts).
CREATE TABLE import_jobs (
    id TEXT PRIMARY KEY,
    file_name TEXT NOT NULL,
    -- Who uploaded it, as the audit log names them.
    created_by TEXT NOT NULL,
    -- The file (UTF-8); emptied once the job is applied or cancelled.
    csv TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('checking', 'checked', 'rejected', 'applying',
        'applied', 'failed', 'cancelled')),
    -- Progress of the running step: rows checked (and written) so far, of all.
    done_steps BIGINT NOT NULL DEFAULT 0,
    total_steps BIGINT NOT NULL DEFAULT 0,
    -- JSON: the counts of the dry run (checked), or of the import (applied).
    report TEXT,
    -- JSON: every bad row with its line, field and reason (rejected).
    problems TEXT,
    -- Why the job failed (failed), in words.
    message TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX import_jobs_updated_at ON import_jobs (updated_at);
