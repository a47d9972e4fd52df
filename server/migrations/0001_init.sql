CREATE TABLE submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    progress INTEGER NOT NULL DEFAULT 0,
    stage TEXT,
    error TEXT,
    warnings TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    stages TEXT,
    pdf_url TEXT,
    pdf_bytes INTEGER,
    xlsx_url TEXT,
    xlsx_bytes INTEGER,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);

CREATE INDEX jobs_unfinished ON jobs (status) WHERE status IN ('pending', 'processing');
