-- jobu's own tables on MySQL 8 / MariaDB 10.6+. Timestamps are DATETIME(6) in UTC
-- (every connection sets time_zone = '+00:00'). MySQL commits DDL at once, so each
-- table is created IF NOT EXISTS with its indexes inside: a migration cut short can
-- simply be run again.

CREATE TABLE IF NOT EXISTS cron_jobs (
    id                    BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name                  VARCHAR(200) NOT NULL,
    description           TEXT NOT NULL,
    schedule              VARCHAR(200) NOT NULL,
    timezone              VARCHAR(64) NOT NULL DEFAULT 'UTC',
    handler_name          VARCHAR(200) NOT NULL,
    handler_params        LONGTEXT NOT NULL,
    is_enabled            BOOLEAN NOT NULL DEFAULT TRUE,
    allow_overlap         BOOLEAN NOT NULL DEFAULT FALSE,
    catch_up              VARCHAR(10) NOT NULL DEFAULT 'latest',
    misfire_grace_seconds INTEGER NOT NULL DEFAULT 60,
    catch_up_max_runs     INTEGER NOT NULL DEFAULT 10,
    dst_repeat            VARCHAR(10) NOT NULL DEFAULT 'first',
    jitter_seconds        INTEGER NOT NULL DEFAULT 0,
    max_retry             INTEGER NOT NULL DEFAULT 0,
    retry_backoff_seconds DOUBLE NOT NULL DEFAULT 10,
    timeout_seconds       DOUBLE NULL,
    priority              INTEGER NOT NULL DEFAULT 0,
    queue                 VARCHAR(100) NOT NULL DEFAULT 'default',
    isolation             VARCHAR(10) NOT NULL DEFAULT 'thread',
    last_tick_at          DATETIME(6) NULL,
    next_tick_at          DATETIME(6) NULL,
    version               INTEGER NOT NULL DEFAULT 1,
    created_at            DATETIME(6) NOT NULL,
    updated_at            DATETIME(6) NOT NULL,
    UNIQUE KEY cron_jobs_name (name),
    -- The dispatcher: crons whose next tick has come, and the next tick of all.
    KEY cron_jobs_next_tick (next_tick_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS job_executions (
    id                    BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job_id                BIGINT NULL,
    handler_name          VARCHAR(200) NOT NULL,
    params                LONGTEXT NOT NULL,
    param_source          VARCHAR(10) NOT NULL,
    scheduled_time        DATETIME(6) NULL,
    status                VARCHAR(10) NOT NULL,
    attempt               INTEGER NOT NULL DEFAULT 0,
    max_retry             INTEGER NOT NULL DEFAULT 0,
    retry_backoff_seconds DOUBLE NOT NULL DEFAULT 10,
    timeout_seconds       DOUBLE NULL,
    run_after             DATETIME(6) NOT NULL,
    priority              INTEGER NOT NULL DEFAULT 0,
    queue                 VARCHAR(100) NOT NULL DEFAULT 'default',
    isolation             VARCHAR(10) NOT NULL DEFAULT 'thread',
    worker_id             VARCHAR(200) NULL,
    lease_token           VARCHAR(64) NULL,
    lease_expires_at      DATETIME(6) NULL,
    cancel_requested      BOOLEAN NOT NULL DEFAULT FALSE,
    started_at            DATETIME(6) NULL,
    finished_at           DATETIME(6) NULL,
    result                LONGTEXT NULL,
    error_message         TEXT NULL,
    dedupe_key            VARCHAR(255) NULL,
    progress              DOUBLE NULL,
    progress_note         TEXT NULL,
    created_at            DATETIME(6) NOT NULL,
    updated_at            DATETIME(6) NOT NULL,
    -- One row per cron tick, however many dispatchers run (NULL job_ids never clash).
    UNIQUE KEY job_executions_tick_unique (job_id, scheduled_time),
    UNIQUE KEY job_executions_dedupe (dedupe_key),
    -- The claim (MySQL has no partial indexes: status leads instead).
    KEY job_executions_claim (status, queue, priority, run_after),
    KEY job_executions_lease (status, lease_expires_at),
    -- The dispatcher's overlap check: the unfinished executions of a cron.
    KEY job_executions_active (job_id, status, id),
    KEY job_executions_job (job_id, id),
    KEY job_executions_handler (handler_name, id),
    KEY job_executions_finished (status, finished_at),
    CONSTRAINT job_executions_job_fk FOREIGN KEY (job_id) REFERENCES cron_jobs (id)
        ON DELETE SET NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS execution_errors (
    id                    BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    execution_id          BIGINT NOT NULL,
    attempt               INTEGER NOT NULL,
    status                VARCHAR(10) NOT NULL,
    error_message         TEXT NOT NULL,
    traceback             LONGTEXT NULL,
    worker_id             VARCHAR(200) NULL,
    occurred_at           DATETIME(6) NOT NULL,
    KEY execution_errors_execution (execution_id, attempt),
    CONSTRAINT execution_errors_execution_fk FOREIGN KEY (execution_id)
        REFERENCES job_executions (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS workers (
    id                    VARCHAR(200) NOT NULL PRIMARY KEY,
    kind                  VARCHAR(20) NOT NULL,
    hostname              VARCHAR(255) NOT NULL,
    pid                   INTEGER NOT NULL,
    pool_size             INTEGER NOT NULL DEFAULT 0,
    running               INTEGER NOT NULL DEFAULT 0,
    handlers              LONGTEXT NOT NULL,
    queues                LONGTEXT NOT NULL,
    version               VARCHAR(50) NOT NULL DEFAULT '',
    started_at            DATETIME(6) NOT NULL,
    last_heartbeat        DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
