-- A job store as Cellwright 0.1 left it: its schema (orchestrator/store.py at 0.1) and two
-- queued jobs, the second more urgent.
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL UNIQUE,
    body_hash TEXT NOT NULL,
    workflow TEXT NOT NULL,
    workflow_version INTEGER NOT NULL,
    params TEXT NOT NULL,
    priority INTEGER NOT NULL,
    deadline REAL NOT NULL,
    labels TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    ordinal INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    skill TEXT NOT NULL,
    params TEXT NOT NULL,
    needs TEXT NOT NULL,
    retries INTEGER NOT NULL,
    state TEXT NOT NULL,
    cell_id TEXT NOT NULL DEFAULT '',
    boot_id TEXT NOT NULL DEFAULT '',
    epoch INTEGER NOT NULL DEFAULT 0,
    attempt INTEGER NOT NULL DEFAULT 0,
    result TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    duration_s REAL NOT NULL DEFAULT 0,
    assigned_at REAL NOT NULL DEFAULT 0,
    finished_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tasks_job ON tasks(job_id);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks(state);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    job_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    snapshot BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, seq);
INSERT INTO jobs (id, request_id, body_hash, workflow, workflow_version, params, priority, deadline, labels, state, created_at, updated_at)
VALUES ('job-a', 'req-a', 'h', 'noop', 1, '{}', 0, 0, '{}', 'QUEUED', 1700000000, 1700000000),
       ('job-b', 'req-b', 'h', 'noop', 1, '{}', 5, 1700000100, '{}', 'QUEUED', 1700000001, 1700000001);
INSERT INTO tasks (id, job_id, ordinal, step_id, skill, params, needs, retries, state)
VALUES ('job-a/noop', 'job-a', 0, 'noop', 'noop', '{}', '[]', 0, 'READY'),
       ('job-b/noop', 'job-b', 0, 'noop', 'noop', '{}', '[]', 0, 'READY');
