-- Idempotency-Key of submissions: a key seen again within 24 h answers
-- the same submission and job (created_at: Unix seconds).
CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    created_at INTEGER NOT NULL
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
