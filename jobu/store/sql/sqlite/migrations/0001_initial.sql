-- jobu's own tables on SQLite. Timestamps are UTC text, YYYY-MM-DD HH:MM:SS.ffffff, which
-- sorts in time order. AUTOINCREMENT: ids are never reused, so a history cursor stays valid.

CREATE TABLE cron_jobs (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    name                  VARCHAR(200) NOT NULL UNIQUE,
    description           TEXT NOT NULL DEFAULT '',
    schedule              VARCHAR(200) NOT NULL,
    timezone              VARCHAR(64) NOT NULL DEFAULT 'UTC',
    handler_name          VARCHAR(200) NOT NULL,
    handler_params        TEXT NOT NULL DEFAULT '{}',
    is_enabled            INTEGER NOT NULL DEFAULT 1,
    allow_overlap         INTEGER NOT NULL DEFAULT 0,
    catch_up              VARCHAR(10) NOT NULL DEFAULT 'latest',
    misfire_grace_seconds INTEGER NOT NULL DEFAULT 60,
    catch_up_max_runs     INTEGER NOT NULL DEFAULT 10,
    dst_repeat            VARCHAR(10) NOT NULL DEFAULT 'first',
    jitter_seconds        INTEGER NOT NULL DEFAULT 0,
    max_retry             INTEGER NOT NULL DEFAULT 0,
    retry_backoff_seconds REAL NOT NULL DEFAULT 10,
    timeout_seconds       REAL,
    priority              INTEGER NOT NULL DEFAULT 0,
    queue                 VARCHAR(100) NOT NULL DEFAULT 'default',
    isolation             VARCHAR(10) NOT NULL DEFAULT 'thread',
    last_tick_at          TEXT,
    next_tick_at          TEXT,
    version               INTEGER NOT NULL DEFAULT 1,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);

-- The dispatcher: crons whose next tick has come, and the next tick of all.
CREATE INDEX cron_jobs_next_tick ON cron_jobs (next_tick_at);

CREATE TABLE job_executions (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id                INTEGER REFERENCES cron_jobs (id) ON DELETE SET NULL,
    handler_name          VARCHAR(200) NOT NULL,
    params                TEXT NOT NULL DEFAULT '{}',
    param_source          VARCHAR(10) NOT NULL,
    scheduled_time        TEXT,
    status                VARCHAR(10) NOT NULL,
    attempt               INTEGER NOT NULL DEFAULT 0,
    max_retry             INTEGER NOT NULL DEFAULT 0,
    retry_backoff_seconds REAL NOT NULL DEFAULT 10,
    timeout_seconds       REAL,
    run_after             TEXT NOT NULL,
    priority              INTEGER NOT NULL DEFAULT 0,
    queue                 VARCHAR(100) NOT NULL DEFAULT 'default',
    isolation             VARCHAR(10) NOT NULL DEFAULT 'thread',
    worker_id             VARCHAR(200),
    lease_token           VARCHAR(64),
    lease_expires_at      TEXT,
    cancel_requested      INTEGER NOT NULL DEFAULT 0,
    started_at            TEXT,
    finished_at           TEXT,
    result                TEXT,
    error_message         TEXT,
    dedupe_key            VARCHAR(255) UNIQUE,
    progress              REAL,
    progress_note         TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    -- One row per cron tick, however many dispatchers run (NULL job_ids never clash).
    CONSTRAINT job_executions_tick_unique UNIQUE (job_id, scheduled_time)
);

-- The claim: runnable rows of a queue, highest priority then oldest first.
CREATE INDEX job_executions_claim ON job_executions (queue, priority DESC, run_after, id)
    WHERE status IN ('PENDING', 'RETRY');
-- The rescuer: running rows by lease expiry.
CREATE INDEX job_executions_lease ON job_executions (lease_expires_at) WHERE status = 'RUNNING';
-- The dispatcher's overlap check: the unfinished executions of a cron.
CREATE INDEX job_executions_active ON job_executions (job_id, id)
    WHERE status IN ('PENDING', 'RUNNING', 'RETRY');
-- History pages per cron and per handler, newest first.
CREATE INDEX job_executions_job ON job_executions (job_id, id);
CREATE INDEX job_executions_handler ON job_executions (handler_name, id);
-- Pruning by age per status.
CREATE INDEX job_executions_finished ON job_executions (status, finished_at);

CREATE TABLE execution_errors (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id          INTEGER NOT NULL REFERENCES job_executions (id) ON DELETE CASCADE,
    attempt               INTEGER NOT NULL,
    status                VARCHAR(10) NOT NULL,
    error_message         TEXT NOT NULL,
    traceback             TEXT,
    worker_id             VARCHAR(200),
    occurred_at           TEXT NOT NULL
);

CREATE INDEX execution_errors_execution ON execution_errors (execution_id, attempt);

CREATE TABLE workers (
    id                    VARCHAR(200) PRIMARY KEY,
    kind                  VARCHAR(20) NOT NULL,
    hostname              VARCHAR(255) NOT NULL,
    pid                   INTEGER NOT NULL,
    pool_size             INTEGER NOT NULL DEFAULT 0,
    running               INTEGER NOT NULL DEFAULT 0,
    handlers              TEXT NOT NULL DEFAULT '[]',
    queues                TEXT NOT NULL DEFAULT '[]',
    version               VARCHAR(50) NOT NULL DEFAULT '',
    started_at            TEXT NOT NULL,
    last_heartbeat        TEXT NOT NULL
);
