-- jobu's queries for MySQL 8 and MariaDB 10.6+. Every dialect defines the same names (a
-- test checks), and MySQL adds execution_claim_mark: it has no UPDATE … RETURNING, so a
-- claim selects with FOR UPDATE SKIP LOCKED, then updates, then reads the rows back.
-- `now` parameters are NULL in production, meaning the database clock (UTC_TIMESTAMP);
-- tests pass a time. Parameters are %(name)s (PyMySQL); lists arrive as tuples.

-- name: migration_lock
-- Serialises `jobu migrate` across hosts; held by the connection until released.
SELECT GET_LOCK('jobu_migrate', 120) AS locked;

-- name: migration_unlock
SELECT RELEASE_LOCK('jobu_migrate') AS released;

-- name: migration_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       VARCHAR(200) NOT NULL,
    applied_at DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- name: migration_applied
SELECT version, name FROM schema_migrations ORDER BY version;

-- name: migration_record
INSERT INTO schema_migrations (version, name, applied_at) VALUES (%(version)s, %(name)s, UTC_TIMESTAMP(6));

-- name: database_now
SELECT UTC_TIMESTAMP(6) AS now;

-- name: cron_insert
INSERT INTO cron_jobs (name, description, schedule, timezone, handler_name, handler_params,
    is_enabled, allow_overlap, catch_up, misfire_grace_seconds, catch_up_max_runs, dst_repeat,
    jitter_seconds, max_retry, retry_backoff_seconds, timeout_seconds, priority, queue, isolation,
    version, created_at, updated_at)
VALUES (%(name)s, %(description)s, %(schedule)s, %(timezone)s, %(handler_name)s,
    %(handler_params)s, %(is_enabled)s, %(allow_overlap)s, %(catch_up)s,
    %(misfire_grace_seconds)s, %(catch_up_max_runs)s, %(dst_repeat)s, %(jitter_seconds)s,
    %(max_retry)s, %(retry_backoff_seconds)s, %(timeout_seconds)s, %(priority)s, %(queue)s,
    %(isolation)s, 1, COALESCE(%(now)s, UTC_TIMESTAMP(6)), COALESCE(%(now)s, UTC_TIMESTAMP(6)));

-- name: cron_update
-- Rewrites every writable field; a new version tells dispatchers to plan again.
-- Enabling a disabled cron forgets its last tick: it starts from now (updated_at), and
-- the ticks of the time it was disabled are neither run nor reported. MySQL assigns
-- left to right, so last_tick_at comes first, while is_enabled still has its old value.
UPDATE cron_jobs SET
    last_tick_at = CASE WHEN %(is_enabled)s AND NOT is_enabled THEN NULL ELSE last_tick_at END,
    name = %(name)s, description = %(description)s, schedule = %(schedule)s,
    timezone = %(timezone)s, handler_name = %(handler_name)s, handler_params = %(handler_params)s,
    is_enabled = %(is_enabled)s, allow_overlap = %(allow_overlap)s, catch_up = %(catch_up)s,
    misfire_grace_seconds = %(misfire_grace_seconds)s, catch_up_max_runs = %(catch_up_max_runs)s,
    dst_repeat = %(dst_repeat)s, jitter_seconds = %(jitter_seconds)s, max_retry = %(max_retry)s,
    retry_backoff_seconds = %(retry_backoff_seconds)s, timeout_seconds = %(timeout_seconds)s,
    priority = %(priority)s, queue = %(queue)s, isolation = %(isolation)s,
    next_tick_at = NULL, version = version + 1, updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE id = %(id)s;

-- name: cron_get_by_name
SELECT * FROM cron_jobs WHERE name = %(name)s;

-- name: cron_get_by_id
SELECT * FROM cron_jobs WHERE id = %(id)s;

-- name: cron_list
SELECT * FROM cron_jobs WHERE (NOT %(enabled_only)s OR is_enabled) ORDER BY name;

-- name: cron_delete
DELETE FROM cron_jobs WHERE id = %(id)s;

-- name: cron_mark_ticked
-- Records the last evaluated tick; never moves it backwards (several dispatchers).
UPDATE cron_jobs SET last_tick_at = %(last_tick_at)s, next_tick_at = %(next_tick_at)s
WHERE id = %(id)s AND (last_tick_at IS NULL OR last_tick_at <= %(last_tick_at)s);

-- name: cron_due
-- Enabled crons whose next tick has come, and those not planned yet (new or changed).
-- NULLs sort first.
SELECT * FROM cron_jobs
WHERE is_enabled AND (next_tick_at IS NULL OR next_tick_at <= %(now)s)
ORDER BY next_tick_at, id
LIMIT %(limit)s;

-- name: cron_outlook
SELECT COUNT(*) AS enabled,
    COALESCE(SUM(CASE WHEN next_tick_at IS NULL THEN 1 ELSE 0 END), 0) AS unplanned
FROM cron_jobs WHERE is_enabled;

-- name: cron_next_planned
-- The enabled cron whose planned tick comes first.
SELECT name, next_tick_at FROM cron_jobs
WHERE is_enabled AND next_tick_at IS NOT NULL
ORDER BY next_tick_at, id LIMIT 1;

-- name: cron_advance
-- Records a dispatcher's evaluation of a cron, only if the cron is still as that dispatcher
-- read it (same version, same last tick): this compare-and-set is what keeps two dispatchers
-- from recording the same ticks. `disable` ends a one-shot cron. <=> is MySQL's NULL-safe =.
UPDATE cron_jobs SET last_tick_at = %(last_tick_at)s, next_tick_at = %(next_tick_at)s,
    is_enabled = is_enabled AND NOT %(disable)s,
    version = version + CASE WHEN %(disable)s THEN 1 ELSE 0 END,
    updated_at = CASE WHEN %(disable)s THEN COALESCE(%(now)s, UTC_TIMESTAMP(6))
                      ELSE updated_at END
WHERE id = %(id)s AND version = %(version)s
  AND last_tick_at <=> %(previous_tick_at)s;

-- name: execution_insert
-- One row per tick and per dedupe key: a duplicate inserts nothing and returns no id.
INSERT INTO job_executions (job_id, handler_name, params, param_source, scheduled_time, status,
    max_retry, retry_backoff_seconds, timeout_seconds, run_after, priority, queue, isolation,
    dedupe_key, error_message, finished_at, created_at, updated_at)
VALUES (%(job_id)s, %(handler_name)s, %(params)s, %(param_source)s,
    COALESCE(%(scheduled_time)s, %(now)s, UTC_TIMESTAMP(6)), %(status)s, %(max_retry)s,
    %(retry_backoff_seconds)s, %(timeout_seconds)s, COALESCE(%(run_after)s, %(now)s, UTC_TIMESTAMP(6)),
    %(priority)s, %(queue)s, %(isolation)s, %(dedupe_key)s, %(error_message)s,
    CASE WHEN %(final)s THEN COALESCE(%(now)s, UTC_TIMESTAMP(6)) END,
    COALESCE(%(now)s, UTC_TIMESTAMP(6)), COALESCE(%(now)s, UTC_TIMESTAMP(6)))
ON DUPLICATE KEY UPDATE id = id;

-- name: execution_get
SELECT e.*, c.name AS cron_name FROM job_executions e
LEFT JOIN cron_jobs c ON c.id = e.job_id WHERE e.id = %(id)s;

-- name: execution_get_many
SELECT e.*, c.name AS cron_name FROM job_executions e
LEFT JOIN cron_jobs c ON c.id = e.job_id WHERE e.id IN %(ids)s ORDER BY e.id;

-- name: execution_get_by_dedupe_key
SELECT e.*, c.name AS cron_name FROM job_executions e
LEFT JOIN cron_jobs c ON c.id = e.job_id WHERE e.dedupe_key = %(dedupe_key)s;

-- name: execution_claim
-- Locks up to `limit` runnable rows no other transaction holds; execution_claim_mark
-- then takes them, in the same transaction.
SELECT id FROM job_executions
WHERE status IN ('PENDING', 'RETRY') AND queue IN %(queues)s
  AND run_after <= COALESCE(%(now)s, UTC_TIMESTAMP(6))
ORDER BY priority DESC, run_after, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: execution_claim_mark
UPDATE job_executions SET status = 'RUNNING', worker_id = %(worker_id)s,
    attempt = attempt + 1, lease_token = %(lease_token)s,
    lease_expires_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
        + INTERVAL ROUND(%(lease_seconds)s * 1000000) MICROSECOND,
    started_at = COALESCE(%(now)s, UTC_TIMESTAMP(6)), finished_at = NULL, progress = NULL,
    progress_note = NULL, updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE id IN %(ids)s;

-- name: execution_complete
UPDATE job_executions SET status = 'SUCCESS', result = %(result)s,
    finished_at = COALESCE(%(now)s, UTC_TIMESTAMP(6)), lease_expires_at = NULL,
    updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE id = %(id)s AND lease_token = %(lease_token)s AND status = 'RUNNING';

-- name: execution_finish_failed
-- Ends an attempt for good: FAILED, TIMEOUT or CANCELLED.
UPDATE job_executions SET status = %(status)s, error_message = %(error_message)s,
    finished_at = COALESCE(%(now)s, UTC_TIMESTAMP(6)), lease_expires_at = NULL,
    updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE id = %(id)s AND lease_token = %(lease_token)s AND status = 'RUNNING';

-- name: execution_retry
UPDATE job_executions SET status = 'RETRY', error_message = %(error_message)s,
    run_after = COALESCE(%(now)s, UTC_TIMESTAMP(6))
        + INTERVAL ROUND(%(delay_seconds)s * 1000000) MICROSECOND,
    lease_expires_at = NULL, updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE id = %(id)s AND lease_token = %(lease_token)s AND status = 'RUNNING';

-- name: execution_release
-- Hands an unfinished attempt back without counting it (worker shutdown).
UPDATE job_executions SET status = CASE WHEN attempt > 1 THEN 'RETRY' ELSE 'PENDING' END,
    attempt = attempt - 1, worker_id = NULL, lease_expires_at = NULL, started_at = NULL,
    run_after = COALESCE(%(now)s, UTC_TIMESTAMP(6)),
    updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE id = %(id)s AND lease_token = %(lease_token)s AND status = 'RUNNING';

-- name: execution_progress
UPDATE job_executions SET progress = %(progress)s, progress_note = %(progress_note)s,
    updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE id = %(id)s AND lease_token = %(lease_token)s AND status = 'RUNNING';

-- name: execution_error_insert
-- Records why the current attempt of an execution ended, with its attempt and worker.
INSERT INTO execution_errors (execution_id, attempt, status, error_message, traceback,
    worker_id, occurred_at)
SELECT id, attempt, %(status)s, %(error_message)s, %(traceback)s, worker_id,
    COALESCE(%(now)s, UTC_TIMESTAMP(6))
FROM job_executions WHERE id = %(execution_id)s;

-- name: execution_errors_list
SELECT * FROM execution_errors WHERE execution_id = %(execution_id)s ORDER BY attempt, id;

-- name: execution_renew_leases
UPDATE job_executions SET lease_expires_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
        + INTERVAL ROUND(%(lease_seconds)s * 1000000) MICROSECOND
WHERE worker_id = %(worker_id)s AND status = 'RUNNING';

-- name: execution_lease_states
SELECT id, status, worker_id, lease_token, cancel_requested FROM job_executions
WHERE id IN %(ids)s;

-- name: execution_expired
-- Running rows whose lease ran out: their worker is gone. SKIP LOCKED lets several
-- rescuers share the work.
SELECT id, attempt, max_retry, lease_token, lease_expires_at, worker_id, cancel_requested
FROM job_executions
WHERE status = 'RUNNING' AND lease_expires_at < COALESCE(%(now)s, UTC_TIMESTAMP(6))
ORDER BY lease_expires_at, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: execution_rescue
UPDATE job_executions SET status = %(status)s, error_message = %(error_message)s,
    run_after = COALESCE(%(now)s, UTC_TIMESTAMP(6)), lease_expires_at = NULL,
    finished_at = CASE WHEN %(final)s THEN COALESCE(%(now)s, UTC_TIMESTAMP(6)) END,
    updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE id = %(id)s AND lease_token = %(lease_token)s AND status = 'RUNNING';

-- name: execution_cancel_waiting
UPDATE job_executions SET status = 'CANCELLED', error_message = %(error_message)s,
    finished_at = COALESCE(%(now)s, UTC_TIMESTAMP(6)),
    updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE id = %(id)s AND status IN ('PENDING', 'RETRY');

-- name: execution_cancel_running
UPDATE job_executions SET cancel_requested = TRUE,
    updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE id = %(id)s AND status = 'RUNNING';

-- name: execution_requeue
-- Runs a finished execution again from its first attempt (`jobu jobs retry`).
UPDATE job_executions SET status = 'PENDING', attempt = 0, worker_id = NULL,
    lease_token = NULL, lease_expires_at = NULL, cancel_requested = FALSE, started_at = NULL,
    finished_at = NULL, result = NULL, error_message = NULL, progress = NULL,
    progress_note = NULL, run_after = COALESCE(%(now)s, UTC_TIMESTAMP(6)),
    updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE id = %(id)s AND status NOT IN ('PENDING', 'RUNNING', 'RETRY');

-- name: execution_list
-- Newest first; `cursor` is the last id of the previous page (keyset pagination).
SELECT e.*, c.name AS cron_name FROM job_executions e
LEFT JOIN cron_jobs c ON c.id = e.job_id
WHERE (%(cursor)s IS NULL OR e.id < %(cursor)s)
  AND (%(any_status)s OR e.status IN %(statuses)s)
  AND (%(job_id)s IS NULL OR e.job_id = %(job_id)s)
  AND (%(handler_name)s IS NULL OR e.handler_name = %(handler_name)s)
  AND (%(param_source)s IS NULL OR e.param_source = %(param_source)s)
  AND (%(since)s IS NULL OR e.scheduled_time >= %(since)s)
  AND (%(until)s IS NULL OR e.scheduled_time < %(until)s)
ORDER BY e.id DESC
LIMIT %(limit)s;

-- name: execution_active_for_cron
SELECT id, status FROM job_executions
WHERE job_id = %(job_id)s AND status IN ('PENDING', 'RUNNING', 'RETRY')
ORDER BY id LIMIT 1;

-- name: execution_active_for_crons
-- The unfinished executions of several crons, oldest first (the overlap rule).
SELECT job_id, id, status FROM job_executions
WHERE job_id IN %(job_ids)s AND status IN ('PENDING', 'RUNNING', 'RETRY')
ORDER BY job_id, id;

-- name: execution_prune
-- MySQL refuses LIMIT in an IN subquery, but DELETE takes ORDER BY and LIMIT itself.
DELETE FROM job_executions
WHERE status = %(status)s
  AND finished_at < COALESCE(%(now)s, UTC_TIMESTAMP(6)) - INTERVAL %(days)s DAY
ORDER BY id LIMIT %(limit)s;

-- name: cron_stats_counts
SELECT COUNT(*) AS total,
    SUM(CASE WHEN status = 'SUCCESS' THEN 1 ELSE 0 END) AS success,
    SUM(CASE WHEN status = 'FAILED' THEN 1 ELSE 0 END) AS failed,
    SUM(CASE WHEN status = 'TIMEOUT' THEN 1 ELSE 0 END) AS timeout,
    SUM(CASE WHEN status = 'SKIPPED' THEN 1 ELSE 0 END) AS skipped,
    SUM(CASE WHEN status = 'MISSED' THEN 1 ELSE 0 END) AS missed,
    SUM(CASE WHEN status IN ('SUCCESS', 'FAILED', 'TIMEOUT') AND started_at IS NOT NULL
             AND finished_at IS NOT NULL THEN 1 ELSE 0 END) AS timed,
    AVG(CASE WHEN status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
             THEN TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) / 1000000.0 END)
        AS avg_duration,
    AVG(TIMESTAMPDIFF(MICROSECOND, scheduled_time, started_at) / 1000000.0) AS avg_lateness
FROM job_executions WHERE job_id = %(job_id)s;

-- name: cron_stats_duration_rank
-- The duration at a rank (0 = shortest) among finished runs: the p95 by nearest rank.
SELECT TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) / 1000000.0 AS duration
FROM job_executions
WHERE job_id = %(job_id)s AND status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND started_at IS NOT NULL AND finished_at IS NOT NULL
ORDER BY duration LIMIT 1 OFFSET %(rank)s;

-- name: cron_stats_last_run
SELECT status, started_at FROM job_executions
WHERE job_id = %(job_id)s AND started_at IS NOT NULL ORDER BY id DESC LIMIT 1;

-- name: worker_upsert
INSERT INTO workers (id, kind, hostname, pid, pool_size, running, handlers, queues, version,
    started_at, last_heartbeat)
VALUES (%(id)s, %(kind)s, %(hostname)s, %(pid)s, %(pool_size)s, %(running)s, %(handlers)s,
    %(queues)s, %(version)s, COALESCE(%(now)s, UTC_TIMESTAMP(6)),
    COALESCE(%(now)s, UTC_TIMESTAMP(6)))
ON DUPLICATE KEY UPDATE kind = VALUES(kind), hostname = VALUES(hostname),
    pid = VALUES(pid), pool_size = VALUES(pool_size), running = VALUES(running),
    handlers = VALUES(handlers), queues = VALUES(queues), version = VALUES(version),
    last_heartbeat = VALUES(last_heartbeat);

-- name: worker_heartbeat
UPDATE workers SET last_heartbeat = COALESCE(%(now)s, UTC_TIMESTAMP(6)), running = %(running)s
WHERE id = %(id)s;

-- name: worker_delete
DELETE FROM workers WHERE id = %(id)s;

-- name: worker_list
SELECT * FROM workers ORDER BY kind, hostname, pid;

-- name: worker_prune
DELETE FROM workers
WHERE last_heartbeat < COALESCE(%(now)s, UTC_TIMESTAMP(6))
    - INTERVAL ROUND(%(older_than_seconds)s * 1000000) MICROSECOND;

-- name: decision_log_id
-- The id of this jobs database's two-phase decision log (made by migration 0002).
SELECT log_id FROM twophase_log WHERE id = 1;

-- name: decision_insert
-- A two-phase decision; a second one for the same txid breaks the primary key.
INSERT INTO twophase_decisions (txid, outcome, branches, decided_at)
VALUES (%(txid)s, %(outcome)s, %(branches)s, COALESCE(%(now)s, UTC_TIMESTAMP(6)));

-- name: decision_get
SELECT txid, outcome, branches, decided_at, done_at FROM twophase_decisions
WHERE txid = %(txid)s;

-- name: decision_revoke
-- The coordinator turns its commit into a rollback (a participant refused to commit).
UPDATE twophase_decisions SET outcome = 'rollback'
WHERE txid = %(txid)s AND outcome = 'commit' AND done_at IS NULL;

-- name: decision_mark_done
UPDATE twophase_decisions SET done_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE txid = %(txid)s AND done_at IS NULL;

-- name: decision_list_pending
SELECT txid, outcome, branches, decided_at, done_at FROM twophase_decisions
WHERE done_at IS NULL ORDER BY decided_at, txid LIMIT %(limit)s;

-- name: decision_prune
DELETE FROM twophase_decisions
WHERE done_at < COALESCE(%(now)s, UTC_TIMESTAMP(6)) - INTERVAL %(days)s DAY;
