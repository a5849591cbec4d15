-- jobu's queries for MySQL 8 and MariaDB 10.6+. Every dialect defines the same names (a
-- test checks), with these differences. MySQL has no UPDATE … RETURNING: a claim selects
-- with FOR UPDATE SKIP LOCKED, then updates (execution_claim_mark), then reads the rows
-- back, and a lease renewal reads what it renewed (execution_lease_states). MariaDB has no
-- LATERAL join, so there is no execution_claim_queues: the store picks from each queue.
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

-- name: cron_due
-- Enabled crons whose next tick has come, and those not planned yet (new or changed).
-- NULLs sort first.
SELECT * FROM cron_jobs
WHERE is_enabled AND (next_tick_at IS NULL OR next_tick_at <= %(now)s)
ORDER BY next_tick_at, id
LIMIT %(limit)s;

-- name: cron_due_heads
-- cron_due, but only what tells whether a dispatcher's copy of a cron is current (version,
-- updated_at) and the ticks that change without a new version, as ONE JSON array of
-- [id, version, updated_at, last_tick_at, next_tick_at] (in no set order): at the top of
-- the hour a dispatcher then reads one value per batch of due crons instead of all their
-- columns.
SELECT JSON_ARRAYAGG(JSON_ARRAY(id, version, updated_at, last_tick_at, next_tick_at)) AS heads
FROM (SELECT id, version, updated_at, last_tick_at, next_tick_at FROM cron_jobs
      WHERE is_enabled AND (next_tick_at IS NULL OR next_tick_at <= %(now)s)
      ORDER BY next_tick_at, id
      LIMIT %(limit)s) AS due;

-- name: cron_get_many
SELECT * FROM cron_jobs WHERE id IN %(ids)s;

-- name: cron_outlook
SELECT COUNT(*) AS enabled,
    COALESCE(SUM(CASE WHEN next_tick_at IS NULL THEN 1 ELSE 0 END), 0) AS unplanned
FROM cron_jobs WHERE is_enabled;

-- name: cron_next_planned
-- The enabled cron whose planned tick comes first.
SELECT name, next_tick_at FROM cron_jobs
WHERE is_enabled AND next_tick_at IS NOT NULL
ORDER BY next_tick_at, id LIMIT 1;

-- name: cron_lock_many
-- Locks the crons a dispatcher pass is about to record and names those that pass the
-- compare-and-set (still the version and last tick the pass planned from: what keeps two
-- dispatchers from recording the same ticks). `records` is cron_advance_many's JSON, in id
-- order; STRAIGHT_JOIN reads it first, so the crons are locked in id order and dispatchers
-- recording the same crons queue instead of deadlocking. A cron that fails the comparison
-- is not kept locked (READ COMMITTED). MySQL has no UPDATE … RETURNING to say which crons
-- cron_advance_many changed, so this comes first; only ids come back.
SELECT STRAIGHT_JOIN c.id
FROM JSON_TABLE(%(records)s, '$[*]' COLUMNS (
    id BIGINT PATH '$[0]', version INTEGER PATH '$[1]',
    previous_tick_at DATETIME(6) PATH '$[2]')) AS r
JOIN cron_jobs c ON c.id = r.id
WHERE c.version = r.version AND c.last_tick_at <=> r.previous_tick_at
FOR UPDATE;

-- name: cron_advance_many
-- Records a dispatcher's evaluation of many crons in one statement: their last evaluated
-- and next tick; `to_disable` ends a one-shot cron. `records` is JSON, [[id, version,
-- previous_tick_at, last_tick_at, next_tick_at, disable], …] with UTC times, holding only
-- the crons cron_lock_many found unchanged; the compare-and-set is repeated here all the
-- same (<=> is MySQL's NULL-safe =). No assignment reads a column another one sets: a
-- multi-table UPDATE does not promise their order.
UPDATE cron_jobs c
JOIN JSON_TABLE(%(records)s, '$[*]' COLUMNS (
    id BIGINT PATH '$[0]', version INTEGER PATH '$[1]',
    previous_tick_at DATETIME(6) PATH '$[2]', last_tick_at DATETIME(6) PATH '$[3]',
    next_tick_at DATETIME(6) PATH '$[4]', to_disable BOOLEAN PATH '$[5]')) AS r
  ON c.id = r.id AND c.version = r.version AND c.last_tick_at <=> r.previous_tick_at
SET c.last_tick_at = r.last_tick_at, c.next_tick_at = r.next_tick_at,
    c.is_enabled = c.is_enabled AND NOT r.to_disable,
    c.version = c.version + CASE WHEN r.to_disable THEN 1 ELSE 0 END,
    c.updated_at = CASE WHEN r.to_disable THEN COALESCE(%(now)s, UTC_TIMESTAMP(6))
                        ELSE c.updated_at END;

-- name: execution_insert_batch
-- Many executions in one statement (jobu.store.rows explains batches; the fields of a row
-- are rows.EXECUTION_BATCH_FIELDS, times UTC). A row whose tick (job_id, scheduled_time)
-- or dedupe key already has one inserts nothing: one execution per tick and per key. MySQL
-- has no INSERT … RETURNING. Where the server gives a statement consecutive ids
-- (execution_insert_ids_consecutive), a batch that inserted all its rows has the ids
-- LAST_INSERT_ID() onwards, in order, and `marker` is NULL. Otherwise (or when a row was
-- a duplicate, after a rollback to execution_insert_savepoint) each new row carries
-- `marker` and its position n (from 0) in lease_token, which is otherwise empty until a
-- claim: execution_insert_marked then reads the new ids back and execution_insert_unmark
-- clears the marks, in the same transaction, so no other session ever sees them. A single
-- row needs no mark: its id is LAST_INSERT_ID(), if it went in. JSON_TABLE's text columns are LONGTEXT
-- so that a value too long for its column is refused by the INSERT (strict mode), never
-- cut short or nulled on the way.
INSERT INTO job_executions (job_id, handler_name, params, param_source, scheduled_time,
    status, max_retry, retry_backoff_seconds, timeout_seconds, run_after, priority, queue,
    isolation, dedupe_key, error_message, lease_token, finished_at, created_at, updated_at)
SELECT r.job_id, r.handler_name, r.params, r.param_source,
    COALESCE(r.scheduled_time, %(now)s, UTC_TIMESTAMP(6)), r.status, r.max_retry,
    r.retry_backoff_seconds, r.timeout_seconds,
    COALESCE(r.run_after, %(now)s, UTC_TIMESTAMP(6)), r.priority, r.queue, r.isolation,
    r.dedupe_key, r.error_message, CONCAT(%(marker)s, r.n - 1),
    CASE WHEN r.final THEN COALESCE(%(now)s, UTC_TIMESTAMP(6)) END,
    COALESCE(%(now)s, UTC_TIMESTAMP(6)), COALESCE(%(now)s, UTC_TIMESTAMP(6))
FROM JSON_TABLE(%(rows)s, '$[*]' COLUMNS (
    n FOR ORDINALITY,
    job_id BIGINT PATH '$[0]', handler_name LONGTEXT PATH '$[1]', params LONGTEXT PATH '$[2]',
    param_source LONGTEXT PATH '$[3]', scheduled_time DATETIME(6) PATH '$[4]',
    status LONGTEXT PATH '$[5]', max_retry BIGINT PATH '$[6]',
    retry_backoff_seconds DOUBLE PATH '$[7]', timeout_seconds DOUBLE PATH '$[8]',
    run_after DATETIME(6) PATH '$[9]', priority BIGINT PATH '$[10]', queue LONGTEXT PATH '$[11]',
    isolation LONGTEXT PATH '$[12]', dedupe_key LONGTEXT PATH '$[13]',
    error_message LONGTEXT PATH '$[14]', final BOOLEAN PATH '$[15]')) AS r
ORDER BY r.n
ON DUPLICATE KEY UPDATE id = job_executions.id;

-- name: execution_insert_marked
-- The rows execution_insert_batch just inserted, by their mark. Every one has an id at or
-- after `first_id` (the first id that statement generated), so this reads a short range
-- of the primary key.
SELECT id, lease_token FROM job_executions
WHERE id >= %(first_id)s AND lease_token LIKE %(pattern)s;

-- name: execution_insert_unmark
UPDATE job_executions SET lease_token = NULL WHERE id IN %(ids)s;

-- name: execution_insert_ids_consecutive
-- Whether one multi-row INSERT takes a block of consecutive ids, in its rows' order: with
-- innodb_autoinc_lock_mode 0 or 1, an INSERT … SELECT holds the table's AUTO-INC lock
-- until it ends. Then a batch that inserted every row needs no marks (the store takes
-- the batch back to a savepoint and marks it only when a row was a duplicate).
SELECT @@innodb_autoinc_lock_mode IN (0, 1) AS consecutive;

-- name: execution_insert_savepoint
SAVEPOINT jobu_insert_batch;

-- name: execution_insert_rollback
ROLLBACK TO SAVEPOINT jobu_insert_batch;

-- name: execution_get
SELECT e.*, c.name AS cron_name FROM job_executions e
LEFT JOIN cron_jobs c ON c.id = e.job_id WHERE e.id = %(id)s;

-- name: execution_get_by_dedupe_key
SELECT e.*, c.name AS cron_name FROM job_executions e
LEFT JOIN cron_jobs c ON c.id = e.job_id WHERE e.dedupe_key = %(dedupe_key)s;

-- name: execution_claim
-- Locks up to `limit` runnable rows of one queue that no other transaction holds;
-- execution_claim_mark then takes them, in the same transaction (for several queues, the
-- store picks from each and takes the best). claim_queue is the queue of a runnable row
-- (NULL once it runs or ends) and claim_rank is -priority (migration 0003), so the pick
-- walks job_executions_claim (claim_queue, claim_rank, run_after, id) in claim order and
-- stops after `limit` rows: InnoDB reads, and locks, only those, however many wait, and a
-- concurrent claimer skips them and takes the next ones.
SELECT id, priority, run_after FROM job_executions
WHERE claim_queue = %(queue)s
  AND run_after <= COALESCE(%(now)s, UTC_TIMESTAMP(6))
ORDER BY claim_rank, run_after, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: execution_get_claimed
-- The rows execution_claim_mark just took, with only the columns the claim did not set
-- itself (the store fills in status, worker, token and the cleared ones): the columns of
-- the claim's RETURNING on the other dialects.
SELECT e.id, e.job_id, e.handler_name, e.params, e.param_source, e.scheduled_time, e.attempt,
    e.max_retry, e.retry_backoff_seconds, e.timeout_seconds, e.run_after, e.priority, e.queue,
    e.isolation, e.cancel_requested, e.lease_expires_at, e.started_at, e.error_message,
    e.dedupe_key, e.created_at, c.name AS cron_name
FROM job_executions e LEFT JOIN cron_jobs c ON c.id = e.job_id WHERE e.id IN %(ids)s;

-- name: execution_runnable_probe
-- Is anything runnable in these queues? An idle worker's RunnableProbe asks this every few
-- hundredths of a second on a connection of its own, in autocommit: one round trip and no
-- lock, where a claim takes a transaction. It reads job_executions_claim only.
SELECT 1 AS runnable FROM job_executions
WHERE claim_queue IN %(queues)s AND run_after <= UTC_TIMESTAMP(6)
LIMIT 1;

-- name: execution_claim_mark
UPDATE job_executions SET status = 'RUNNING', worker_id = %(worker_id)s,
    attempt = attempt + 1, lease_token = %(lease_token)s,
    lease_expires_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
        + INTERVAL ROUND(%(lease_seconds)s * 1000000) MICROSECOND,
    started_at = COALESCE(%(now)s, UTC_TIMESTAMP(6)), finished_at = NULL, result = NULL,
    progress = NULL, progress_note = NULL, updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE id IN %(ids)s;

-- name: execution_complete_many
-- SUCCESS for a batch of attempts in one statement (the worker's group commit).
-- `finished` is JSON, [[id, lease_token, result as JSON text], …], read with JSON_TABLE;
-- STRAIGHT_JOIN makes the JSON rows drive primary-key lookups (left alone, MariaDB may
-- read every RUNNING row instead). Each row is fenced by its token; with no RETURNING,
-- the store learns which rows will be written from execution_finish_states first.
UPDATE JSON_TABLE(%(finished)s, '$[*]' COLUMNS (
        id BIGINT PATH '$[0]', lease_token VARCHAR(64) PATH '$[1]',
        result LONGTEXT PATH '$[2]')) AS d
    STRAIGHT_JOIN job_executions e ON e.id = d.id AND e.lease_token = d.lease_token
SET e.status = 'SUCCESS', e.result = d.result,
    e.finished_at = COALESCE(%(now)s, UTC_TIMESTAMP(6)), e.lease_expires_at = NULL,
    e.updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE e.status = 'RUNNING';

-- name: execution_finish_states
-- The rows of a batch of outcomes, locked: read before execution_complete_many, it tells
-- which rows that statement will write (RUNNING under the attempt's token); read after the
-- writes, it tells an outcome an earlier commit already wrote (same token, no longer
-- RUNNING: its acknowledgement was lost) from a lost lease.
SELECT id, status, lease_token FROM job_executions WHERE id IN %(ids)s FOR UPDATE;

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
-- Hands an unfinished attempt back without counting it (worker shutdown). Its run_after
-- stays: it keeps its place in line, ahead of the backlog that came after it.
UPDATE job_executions SET status = CASE WHEN attempt > 1 THEN 'RETRY' ELSE 'PENDING' END,
    attempt = attempt - 1, worker_id = NULL, lease_expires_at = NULL, started_at = NULL,
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
-- Extends the leases the worker names, and only those: `held` is JSON, [[id, lease_token],
-- …], and a row is renewed while it is RUNNING on this worker under that token. A row the
-- worker does not name (a claim that committed while the worker saw an error) is left to
-- expire and be rescued. execution_lease_states then lists the leases still held.
UPDATE JSON_TABLE(%(held)s, '$[*]' COLUMNS (
        id BIGINT PATH '$[0]', lease_token VARCHAR(64) PATH '$[1]')) AS h
    STRAIGHT_JOIN job_executions e ON e.id = h.id AND e.lease_token = h.lease_token
SET e.lease_expires_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
        + INTERVAL ROUND(%(lease_seconds)s * 1000000) MICROSECOND
WHERE e.status = 'RUNNING' AND e.worker_id = %(worker_id)s;

-- name: execution_lease_states
-- After execution_renew_leases (MySQL has no UPDATE … RETURNING): the leases of `held`
-- still held, and whether an operator asked to cancel them.
SELECT e.id, e.cancel_requested
FROM JSON_TABLE(%(held)s, '$[*]' COLUMNS (
        id BIGINT PATH '$[0]', lease_token VARCHAR(64) PATH '$[1]')) AS h
    STRAIGHT_JOIN job_executions e ON e.id = h.id AND e.lease_token = h.lease_token
WHERE e.status = 'RUNNING' AND e.worker_id = %(worker_id)s;

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
-- Takes back an attempt whose lease expired. run_after stays as it was, so a RETRY keeps its
-- place in line instead of waiting behind every row queued since. The token is cleared: a
-- late write of the lost attempt then reads as lost, not as an outcome already written.
UPDATE job_executions SET status = %(status)s, error_message = %(error_message)s,
    lease_token = NULL, lease_expires_at = NULL,
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
  AND (%(any_id)s OR e.id IN %(ids)s)
  AND (%(until)s IS NULL OR e.scheduled_time < %(until)s)
ORDER BY e.id DESC
LIMIT %(limit)s;

-- name: execution_active_for_crons
-- The unfinished executions of several crons, oldest first (the overlap rule).
SELECT job_id, id, status FROM job_executions
WHERE job_id IN %(job_ids)s AND status IN ('PENDING', 'RUNNING', 'RETRY')
ORDER BY job_id, id;

-- name: execution_prune_candidates
-- Up to `limit` executions in `status` finished over `days` days ago, oldest first, locked
-- (rows another pruner holds are skipped), each with whether the statistics' totals hold it
-- (jobu.store.rollup): those are taken out before the rows are deleted. The caller holds the
-- lock on stats_fold, so `folded` cannot change before it deletes them.
SELECT e.id, e.job_id, e.status,
    TIMESTAMPDIFF(MICROSECOND, e.started_at, e.finished_at) / 1000000.0 AS duration,
    TIMESTAMPDIFF(MICROSECOND, e.scheduled_time, e.started_at) / 1000000.0 AS lateness,
    (e.id <= f.folded_through
     AND NOT EXISTS (SELECT 1 FROM stats_unfolded u WHERE u.execution_id = e.id)) AS folded
FROM job_executions e CROSS JOIN stats_fold f
WHERE e.status = %(status)s
  AND e.finished_at < COALESCE(%(now)s, UTC_TIMESTAMP(6)) - INTERVAL %(days)s DAY
ORDER BY e.id LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: execution_delete_ids
DELETE FROM job_executions WHERE id IN %(ids)s;

-- name: stats_cron
-- One cron's statistics in one statement, so that a fold committing meanwhile is seen whole
-- or not at all, and the executions not folded yet are read once (`live`: those above the
-- watermark, along job_executions_job, and those stats_unfolded lists for the cron, each
-- found by its id; jobu.store.rollup). Rows: 'sums', the folded totals (stats_rollup,
-- `rollup_id` the cron's id) plus the live ones; 'bin', a histogram bin of the folded
-- durations (its runs in `total`); 'live', the duration of a live run, binned by the store.
-- `after` is the watermark as read just before, so that the planner knows how few rows lie
-- above it; the watermark read again here only ever is the same or higher, and is in force.
WITH live AS (
    SELECT status, started_at, finished_at, scheduled_time FROM job_executions
    WHERE job_id = %(job_id)s AND id > %(after)s
      AND id > (SELECT folded_through FROM stats_fold WHERE id = 1)
    UNION ALL
    SELECT e.status, e.started_at, e.finished_at, e.scheduled_time
    FROM stats_unfolded u STRAIGHT_JOIN job_executions e ON e.id = u.execution_id
    WHERE u.job_id = %(job_id)s AND e.job_id = %(job_id)s)
SELECT 'sums' AS kind, NULL AS bin, SUM(total) AS total, SUM(success) AS success,
    SUM(failed) AS failed, SUM(timeout) AS timeout, SUM(skipped) AS skipped, SUM(missed) AS missed,
    SUM(timed) AS timed, SUM(duration_sum) AS duration_sum,
    SUM(lateness_runs) AS lateness_runs, SUM(lateness_sum) AS lateness_sum,
    NULL AS duration
FROM (
    SELECT total, success, failed, timeout, skipped, missed, timed, duration_sum,
        lateness_runs, lateness_sum
    FROM stats_rollup WHERE job_id = %(rollup_id)s
    UNION ALL
    SELECT COUNT(*), SUM(status = 'SUCCESS'), SUM(status = 'FAILED'), SUM(status = 'TIMEOUT'),
        SUM(status = 'SKIPPED'), SUM(status = 'MISSED'),
        SUM(status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
            AND started_at IS NOT NULL AND finished_at IS NOT NULL),
        SUM(CASE WHEN status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
                 THEN TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) / 1000000.0 END),
        SUM(started_at IS NOT NULL AND scheduled_time IS NOT NULL),
        SUM(TIMESTAMPDIFF(MICROSECOND, scheduled_time, started_at) / 1000000.0)
    FROM live) AS parts
UNION ALL
SELECT 'bin', bin, runs, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM stats_durations WHERE job_id = %(rollup_id)s
UNION ALL
SELECT 'live', NULL, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) / 1000000.0
FROM live WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT') AND started_at IS NOT NULL AND finished_at IS NOT NULL;

-- name: stats_crons
-- stats_cron over every cron (`rollup_id` 0); the executions above the watermark are read
-- along the primary key.
WITH live AS (
    SELECT status, started_at, finished_at, scheduled_time FROM job_executions
    WHERE job_id IS NOT NULL AND id > %(after)s
      AND id > (SELECT folded_through FROM stats_fold WHERE id = 1)
    UNION ALL
    SELECT e.status, e.started_at, e.finished_at, e.scheduled_time
    FROM stats_unfolded u STRAIGHT_JOIN job_executions e ON e.id = u.execution_id
    WHERE e.job_id IS NOT NULL)
SELECT 'sums' AS kind, NULL AS bin, SUM(total) AS total, SUM(success) AS success,
    SUM(failed) AS failed, SUM(timeout) AS timeout, SUM(skipped) AS skipped, SUM(missed) AS missed,
    SUM(timed) AS timed, SUM(duration_sum) AS duration_sum,
    SUM(lateness_runs) AS lateness_runs, SUM(lateness_sum) AS lateness_sum,
    NULL AS duration
FROM (
    SELECT total, success, failed, timeout, skipped, missed, timed, duration_sum,
        lateness_runs, lateness_sum
    FROM stats_rollup WHERE job_id = %(rollup_id)s
    UNION ALL
    SELECT COUNT(*), SUM(status = 'SUCCESS'), SUM(status = 'FAILED'), SUM(status = 'TIMEOUT'),
        SUM(status = 'SKIPPED'), SUM(status = 'MISSED'),
        SUM(status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
            AND started_at IS NOT NULL AND finished_at IS NOT NULL),
        SUM(CASE WHEN status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
                 THEN TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) / 1000000.0 END),
        SUM(started_at IS NOT NULL AND scheduled_time IS NOT NULL),
        SUM(TIMESTAMPDIFF(MICROSECOND, scheduled_time, started_at) / 1000000.0)
    FROM live) AS parts
UNION ALL
SELECT 'bin', bin, runs, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM stats_durations WHERE job_id = %(rollup_id)s
UNION ALL
SELECT 'live', NULL, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) / 1000000.0
FROM live WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT') AND started_at IS NOT NULL AND finished_at IS NOT NULL;

-- name: stats_durations_of_crons
-- The crons list's average and p95 duration of several crons (`job_ids`): their folded sums
-- (kind 'sum': runs is how many were timed, duration their total) and histograms ('bin'),
-- and the duration of each of their runs not folded yet ('live'); see stats_cron_counts.
WITH live AS (
    SELECT job_id, status, started_at, finished_at FROM job_executions
    WHERE job_id IN %(job_ids)s AND id > %(after)s
      AND id > (SELECT folded_through FROM stats_fold WHERE id = 1)
    UNION ALL
    SELECT e.job_id, e.status, e.started_at, e.finished_at
    FROM stats_unfolded u STRAIGHT_JOIN job_executions e ON e.id = u.execution_id
    WHERE u.job_id IN %(job_ids)s AND e.job_id = u.job_id)
SELECT job_id, 'sum' AS kind, NULL AS bin, timed AS runs, duration_sum AS duration
FROM stats_rollup WHERE job_id IN %(job_ids)s
UNION ALL
SELECT job_id, 'bin', bin, runs, NULL FROM stats_durations WHERE job_id IN %(job_ids)s
UNION ALL
SELECT job_id, 'live', NULL, 1, TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) / 1000000.0
FROM live WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND started_at IS NOT NULL AND finished_at IS NOT NULL;

-- name: cron_stats_last_run
SELECT status, started_at FROM job_executions
WHERE job_id = %(job_id)s AND started_at IS NOT NULL ORDER BY id DESC LIMIT 1;

-- name: crons_stats_last_run
-- The last execution of any cron that started.
SELECT status, started_at FROM job_executions
WHERE job_id IS NOT NULL AND started_at IS NOT NULL ORDER BY id DESC LIMIT 1;

-- name: stats_fold_watermark
-- The watermark, not locked: what a statistics read passes as `after`.
SELECT folded_through FROM stats_fold WHERE id = 1;

-- name: stats_fold_lock
-- The watermark row, locked: what folding, a retry of a finished execution, pruning and
-- removing a cron take first, so that each sees the others' changes to the totals whole.
SELECT folded_through FROM stats_fold WHERE id = 1 FOR UPDATE;

-- name: stats_fold_try_lock
-- The watermark row for folding; no row when another dispatcher is folding (it is skipped).
SELECT folded_through FROM stats_fold WHERE id = 1 FOR UPDATE SKIP LOCKED;

-- name: stats_fold_rows
-- The next executions above the watermark, and whether each was written over `lag` seconds
-- ago (settled: the fold stops at the first that was not).
SELECT id, job_id, status,
    TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) / 1000000.0 AS duration,
    TIMESTAMPDIFF(MICROSECOND, scheduled_time, started_at) / 1000000.0 AS lateness,
    created_at <= COALESCE(%(now)s, UTC_TIMESTAMP(6)) - INTERVAL %(lag)s SECOND AS settled
FROM job_executions WHERE id > %(after)s ORDER BY id LIMIT %(limit)s;

-- name: stats_unfolded_rows
-- Executions below the watermark that the totals do not hold yet and that have finished
-- since (to fold), or are gone or belong to no cron any more (job_id NULL: to forget).
SELECT u.execution_id AS id, e.job_id, e.status,
    TIMESTAMPDIFF(MICROSECOND, e.started_at, e.finished_at) / 1000000.0 AS duration,
    TIMESTAMPDIFF(MICROSECOND, e.scheduled_time, e.started_at) / 1000000.0 AS lateness
FROM stats_unfolded u LEFT JOIN job_executions e ON e.id = u.execution_id
WHERE e.job_id IS NULL OR e.status NOT IN ('PENDING', 'RUNNING', 'RETRY')
ORDER BY u.execution_id LIMIT %(limit)s;

-- name: stats_unfolded_add
INSERT IGNORE INTO stats_unfolded (execution_id, job_id) VALUES (%(id)s, %(job_id)s);

-- name: stats_unfolded_remove
DELETE FROM stats_unfolded WHERE execution_id IN %(ids)s;

-- name: stats_fold_advance
UPDATE stats_fold SET folded_through = %(through)s WHERE id = 1;

-- name: stats_rollup_add
-- Adds (or, negative, takes out) tallies to crons' totals (job_id 0: every cron's), in one
-- statement: `tallies` is JSON, [[job_id, total, success, failed, timeout, skipped, missed,
-- timed, duration_sum, lateness_runs, lateness_sum], …], one row per job_id, read with
-- JSON_TABLE (its columns named apart from the table's, so VALUES() is unambiguous).
INSERT INTO stats_rollup (job_id, total, success, failed, timeout, skipped, missed, timed, duration_sum, lateness_runs, lateness_sum)
SELECT t_job_id, t_total, t_success, t_failed, t_timeout, t_skipped, t_missed, t_timed, t_duration_sum, t_lateness_runs, t_lateness_sum
FROM JSON_TABLE(%(tallies)s, '$[*]' COLUMNS (
        t_job_id BIGINT PATH '$[0]',
        t_total BIGINT PATH '$[1]',
        t_success BIGINT PATH '$[2]',
        t_failed BIGINT PATH '$[3]',
        t_timeout BIGINT PATH '$[4]',
        t_skipped BIGINT PATH '$[5]',
        t_missed BIGINT PATH '$[6]',
        t_timed BIGINT PATH '$[7]',
        t_duration_sum DOUBLE PATH '$[8]',
        t_lateness_runs BIGINT PATH '$[9]',
        t_lateness_sum DOUBLE PATH '$[10]')) AS t
ON DUPLICATE KEY UPDATE total = total + VALUES(total),
    success = success + VALUES(success),
    failed = failed + VALUES(failed),
    timeout = timeout + VALUES(timeout),
    skipped = skipped + VALUES(skipped),
    missed = missed + VALUES(missed),
    timed = timed + VALUES(timed),
    duration_sum = duration_sum + VALUES(duration_sum),
    lateness_runs = lateness_runs + VALUES(lateness_runs),
    lateness_sum = lateness_sum + VALUES(lateness_sum);

-- name: stats_durations_add
-- Adds runs to histogram bins: `bins` is JSON, [[job_id, bin, runs], …], each pair once.
INSERT INTO stats_durations (job_id, bin, runs)
SELECT t_job_id, t_bin, t_runs
FROM JSON_TABLE(%(bins)s, '$[*]' COLUMNS (
        t_job_id BIGINT PATH '$[0]', t_bin INT PATH '$[1]', t_runs BIGINT PATH '$[2]')) AS t
ON DUPLICATE KEY UPDATE runs = runs + VALUES(runs);

-- name: stats_rollup_of
SELECT total, success, failed, timeout, skipped, missed, timed, duration_sum, lateness_runs,
    lateness_sum
FROM stats_rollup WHERE job_id = %(job_id)s;

-- name: stats_durations_of
SELECT bin, runs FROM stats_durations WHERE job_id = %(job_id)s;

-- name: stats_rollup_forget
DELETE FROM stats_rollup WHERE job_id = %(job_id)s;

-- name: stats_durations_forget
DELETE FROM stats_durations WHERE job_id = %(job_id)s;

-- name: stats_execution_state
-- One execution for a retry, locked, with whether the totals hold it (see
-- execution_prune_candidates).
SELECT e.id, e.job_id, e.status,
    TIMESTAMPDIFF(MICROSECOND, e.started_at, e.finished_at) / 1000000.0 AS duration,
    TIMESTAMPDIFF(MICROSECOND, e.scheduled_time, e.started_at) / 1000000.0 AS lateness,
    (e.id <= f.folded_through
     AND NOT EXISTS (SELECT 1 FROM stats_unfolded u WHERE u.execution_id = e.id)) AS folded
FROM job_executions e CROSS JOIN stats_fold f
WHERE e.id = %(id)s
FOR UPDATE;

-- name: cron_last_runs
-- The last execution that started, of each cron that has one.
SELECT e.job_id, e.status, e.started_at FROM job_executions e
WHERE e.id IN (SELECT MAX(id) FROM job_executions
               WHERE job_id IS NOT NULL AND started_at IS NOT NULL GROUP BY job_id);

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

-- name: cron_managed_list
-- The crons a crons file manages, with the file's path.
SELECT name, managed_by FROM cron_jobs WHERE managed_by IS NOT NULL ORDER BY name;

-- name: cron_managed_by
SELECT managed_by FROM cron_jobs WHERE name = %(name)s;

-- name: cron_set_managed_by
-- Not a change of the cron's schedule: its version stays, so dispatchers need not re-plan.
UPDATE cron_jobs SET managed_by = %(managed_by)s WHERE name = %(name)s;

-- name: queue_partition_ensure
-- jobu-queued: a row for a partition it found in the brokers' metadata (none consumed yet).
INSERT INTO queue_partitions (group_id, topic, partition_id, updated_at)
VALUES (%(group_id)s, %(topic)s, %(partition_id)s, COALESCE(%(now)s, UTC_TIMESTAMP(6)))
ON DUPLICATE KEY UPDATE group_id = group_id;

-- name: queue_partition_list
-- The partitions of a consumer group, their positions and leases; `leased` is 1 while the
-- lease has not expired (database clock).
SELECT topic, partition_id, next_offset, owner, lease_token,
    COALESCE(lease_expires_at > COALESCE(%(now)s, UTC_TIMESTAMP(6)), 0) AS leased
FROM queue_partitions WHERE group_id = %(group_id)s ORDER BY topic, partition_id;

-- name: queue_members_live
-- jobu-queued processes whose heartbeat is younger than a lease: they share the partitions.
SELECT COUNT(*) FROM workers WHERE kind = 'queued'
  AND last_heartbeat > COALESCE(%(now)s, UTC_TIMESTAMP(6))
      - INTERVAL ROUND(%(window_seconds)s * 1000000) MICROSECOND;

-- name: queue_lease_take
-- Takes a partition whose lease is free or expired, under a fresh token.
UPDATE queue_partitions SET owner = %(owner)s, lease_token = %(lease_token)s,
    lease_expires_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
        + INTERVAL ROUND(%(lease_seconds)s * 1000000) MICROSECOND,
    updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE group_id = %(group_id)s AND topic = %(topic)s AND partition_id = %(partition_id)s
  AND (lease_token IS NULL OR lease_expires_at IS NULL
       OR lease_expires_at <= COALESCE(%(now)s, UTC_TIMESTAMP(6)));

-- name: queue_lease_renew
-- Extends a lease still held under its token; an expired one is lost, not renewed.
UPDATE queue_partitions SET lease_expires_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
        + INTERVAL ROUND(%(lease_seconds)s * 1000000) MICROSECOND
WHERE group_id = %(group_id)s AND topic = %(topic)s AND partition_id = %(partition_id)s
  AND lease_token = %(lease_token)s
  AND lease_expires_at > COALESCE(%(now)s, UTC_TIMESTAMP(6));

-- name: queue_lease_release
UPDATE queue_partitions SET owner = NULL, lease_token = NULL, lease_expires_at = NULL
WHERE group_id = %(group_id)s AND topic = %(topic)s AND partition_id = %(partition_id)s
  AND lease_token = %(lease_token)s;

-- name: queue_position_advance
-- Fenced: moves a partition's position only for the holder of its unexpired lease, and only
-- from the position the batch started at (-1: none yet), so no batch is written twice.
UPDATE queue_partitions SET next_offset = %(next_offset)s,
    updated_at = COALESCE(%(now)s, UTC_TIMESTAMP(6))
WHERE group_id = %(group_id)s AND topic = %(topic)s AND partition_id = %(partition_id)s
  AND lease_token = %(lease_token)s
  AND lease_expires_at > COALESCE(%(now)s, UTC_TIMESTAMP(6))
  AND COALESCE(next_offset, -1) = %(expected_offset)s;

-- name: dead_letter_insert
INSERT INTO dead_letters (group_id, topic, partition_id, message_offset, message_key, headers,
    raw, reason, received_at)
VALUES (%(group_id)s, %(topic)s, %(partition_id)s, %(message_offset)s, %(message_key)s,
    %(headers)s, %(raw)s, %(reason)s, COALESCE(%(now)s, UTC_TIMESTAMP(6)))
ON DUPLICATE KEY UPDATE id = id;

-- name: dead_letter_list
-- Newest first; :topic NULL lists every topic's.
SELECT id, group_id, topic, partition_id, message_offset, message_key, headers, raw, reason,
    received_at
FROM dead_letters WHERE (%(topic)s IS NULL OR topic = %(topic)s)
ORDER BY id DESC LIMIT %(limit)s;

-- name: dead_letter_get
SELECT id, group_id, topic, partition_id, message_offset, message_key, headers, raw, reason,
    received_at
FROM dead_letters WHERE id = %(id)s;

-- name: dead_letter_delete
DELETE FROM dead_letters WHERE id = %(id)s;

-- name: dead_letter_set_reason
UPDATE dead_letters SET reason = %(reason)s WHERE id = %(id)s;

-- name: admin_user_insert
-- A user of jobu-admin; the primary key refuses a name taken.
INSERT INTO admin_users (name, role, password_hash, created_at)
VALUES (%(name)s, %(role)s, %(password_hash)s, UTC_TIMESTAMP(6));

-- name: admin_user_get
SELECT name, role, password_hash, api_token_hash, created_at FROM admin_users WHERE name = %(name)s;

-- name: admin_user_by_token
SELECT name, role, password_hash, api_token_hash, created_at FROM admin_users WHERE api_token_hash = %(token_hash)s;

-- name: admin_user_list
SELECT name, role, password_hash, api_token_hash, created_at FROM admin_users ORDER BY name;

-- name: admin_user_delete
DELETE FROM admin_users WHERE name = %(name)s;

-- name: admin_user_set_password
UPDATE admin_users SET password_hash = %(password_hash)s WHERE name = %(name)s;

-- name: admin_user_set_token
UPDATE admin_users SET api_token_hash = %(token_hash)s WHERE name = %(name)s;

-- name: queue_message_insert_batch
-- The key and headers of a batch's messages, beside their executions: one JSON array of
-- [execution_id, topic, partition, offset, key (base64 or null), headers (JSON text)].
INSERT INTO queue_messages (execution_id, topic, partition_id, message_offset, message_key,
    headers)
SELECT r.execution_id, r.topic, r.partition_id, r.message_offset, r.message_key, r.headers
FROM JSON_TABLE(%(rows)s, '$[*]' COLUMNS (
    execution_id BIGINT PATH '$[0]', topic LONGTEXT PATH '$[1]',
    partition_id BIGINT PATH '$[2]', message_offset BIGINT PATH '$[3]',
    message_key LONGTEXT PATH '$[4]', headers LONGTEXT PATH '$[5]')) AS r
ON DUPLICATE KEY UPDATE execution_id = queue_messages.execution_id;

-- name: queue_message_get
SELECT execution_id, topic, partition_id, message_offset, message_key, headers
FROM queue_messages WHERE execution_id = %(execution_id)s;

-- name: dead_letter_prune
-- Dead letters received over `days` ago, oldest first, `limit` at a time (maintenance).
-- MySQL refuses LIMIT in an IN subquery, but DELETE takes ORDER BY and LIMIT itself.
DELETE FROM dead_letters
WHERE received_at < COALESCE(%(now)s, UTC_TIMESTAMP(6)) - INTERVAL %(days)s DAY
ORDER BY id LIMIT %(limit)s;

-- Business calendars (jobu.calendars, Store.calendar_*).

-- name: calendar_get_by_name
SELECT * FROM calendars WHERE name = %(name)s;

-- name: calendar_days
SELECT day, name FROM calendar_days WHERE calendar_id = %(id)s ORDER BY day;

-- name: calendar_list
SELECT c.*, (SELECT COUNT(*) FROM calendar_days d WHERE d.calendar_id = c.id) AS day_count,
    (SELECT MIN(day) FROM calendar_days d WHERE d.calendar_id = c.id) AS first_day,
    (SELECT MAX(day) FROM calendar_days d WHERE d.calendar_id = c.id) AS last_day
FROM calendars c ORDER BY c.name;

-- name: calendar_versions
SELECT name, version FROM calendars;

-- name: calendar_insert
INSERT INTO calendars (name, description, timezone, weekend, version)
VALUES (%(name)s, %(description)s, %(timezone)s, %(weekend)s, 1);

-- name: calendar_update
UPDATE calendars SET description = %(description)s, timezone = %(timezone)s,
    weekend = %(weekend)s, version = version + 1
WHERE id = %(id)s;

-- name: calendar_days_delete
DELETE FROM calendar_days WHERE calendar_id = %(id)s;

-- name: calendar_day_insert
INSERT INTO calendar_days (calendar_id, day, name) VALUES (%(id)s, %(day)s, %(name)s);

-- name: calendar_delete
DELETE FROM calendars WHERE id = %(id)s;

-- name: calendar_crons_replan
-- The crons whose schedule names a calendar that changed are planned again at once.
UPDATE cron_jobs SET next_tick_at = NULL WHERE schedule LIKE %(pattern)s;

-- === audit log ===
-- jobu-admin's audit log (Store.audit_*, jobu.operations.audit): one row per change made
-- through the pages or the API and per sign-in, failed sign-in and sign-out.

-- name: audit_insert
INSERT INTO audit_log (at, actor, action, target, source, address, detail)
VALUES (COALESCE(%(now)s, UTC_TIMESTAMP(6)), %(actor)s, %(action)s, %(target)s, %(source)s,
    %(address)s, %(detail)s);

-- name: audit_list
-- Newest first, older than :before_id when given (keyset); a NULL filter lets every value by.
SELECT id, at, actor, action, target, source, address, detail FROM audit_log
WHERE (%(before_id)s IS NULL OR id < %(before_id)s)
  AND (%(actor)s IS NULL OR actor = %(actor)s)
  AND (%(action)s IS NULL OR action = %(action)s)
  AND (%(target)s IS NULL OR target = %(target)s)
ORDER BY id DESC LIMIT %(limit)s;

-- name: audit_recent_for_target
-- The time of the (:offset + 1)-th newest :action row about :target in the last
-- :window_seconds, none when there are fewer (the sign-in rate limit, per user name).
SELECT at FROM audit_log
WHERE action = %(action)s AND target = %(target)s
  AND at > COALESCE(%(now)s, UTC_TIMESTAMP(6))
      - INTERVAL ROUND(%(window_seconds)s * 1000000) MICROSECOND
ORDER BY at DESC LIMIT 1 OFFSET %(offset)s;

-- name: audit_recent_for_address
-- As audit_recent_for_target, for the rows from one client address.
SELECT at FROM audit_log
WHERE action = %(action)s AND address = %(address)s
  AND at > COALESCE(%(now)s, UTC_TIMESTAMP(6))
      - INTERVAL ROUND(%(window_seconds)s * 1000000) MICROSECOND
ORDER BY at DESC LIMIT 1 OFFSET %(offset)s;

-- name: audit_prune
-- Rows older than `days`, oldest first, `limit` at a time (maintenance).
-- MySQL refuses LIMIT in an IN subquery, but DELETE takes ORDER BY and LIMIT itself.
DELETE FROM audit_log
WHERE at < COALESCE(%(now)s, UTC_TIMESTAMP(6)) - INTERVAL %(days)s DAY
ORDER BY at LIMIT %(limit)s;

-- === jobs: bulk actions, time range, live refresh ===

-- name: execution_list_states
-- The id and status of every execution a filter matches, newest first, up to `limit` (the
-- admin's bulk retry and cancel: how many, and which to act on). Same filter as execution_list.
SELECT e.id, e.status FROM job_executions e
WHERE (%(any_status)s OR e.status IN %(statuses)s)
  AND (%(any_id)s OR e.id IN %(ids)s)
  AND (%(job_id)s IS NULL OR e.job_id = %(job_id)s)
  AND (%(handler_name)s IS NULL OR e.handler_name = %(handler_name)s)
  AND (%(param_source)s IS NULL OR e.param_source = %(param_source)s)
  AND (%(since)s IS NULL OR e.scheduled_time >= %(since)s)
  AND (%(until)s IS NULL OR e.scheduled_time < %(until)s)
ORDER BY e.id DESC
LIMIT %(limit)s;

-- name: execution_count_states
-- How many executions a filter matches, up to `limit`, and how many of those wait or run:
-- the admin's bulk retry and cancel buttons on /jobs. No order, so the database may find
-- them along any index (a status filter: job_executions_finished) instead of walking the
-- history newest first as execution_list_states does. Same filter as execution_list.
SELECT COUNT(*) AS matched, SUM(status IN ('PENDING', 'RUNNING', 'RETRY')) AS unfinished
FROM (SELECT e.status FROM job_executions e
WHERE (%(any_status)s OR e.status IN %(statuses)s)
  AND (%(any_id)s OR e.id IN %(ids)s)
  AND (%(job_id)s IS NULL OR e.job_id = %(job_id)s)
  AND (%(handler_name)s IS NULL OR e.handler_name = %(handler_name)s)
  AND (%(param_source)s IS NULL OR e.param_source = %(param_source)s)
  AND (%(since)s IS NULL OR e.scheduled_time >= %(since)s)
  AND (%(until)s IS NULL OR e.scheduled_time < %(until)s)
LIMIT %(limit)s) AS found;

-- === admin charts and the crons list ===

-- name: admin_recent_runs
-- The newest `limit` executions of each of the crons `job_ids`, a row per cron: `runs`, a JSON
-- array of [id, status] in any order, and the status and start of the newest of them that
-- started (as PostgreSQL's). MariaDB has no LATERAL: the id of each cron's `limit`-th newest
-- execution bounds a range of job_executions_job (job_id, id). JSON_ARRAYAGG, not
-- GROUP_CONCAT: MySQL cuts the latter at 1,024 bytes.
SELECT g.job_id, g.runs, l.status AS last_status, l.started_at AS last_started_at
FROM (SELECT e.job_id, JSON_ARRAYAGG(JSON_ARRAY(e.id, e.status)) AS runs,
          MAX(CASE WHEN e.started_at IS NOT NULL THEN e.id END) AS last_started_id
      FROM cron_jobs c
      JOIN job_executions e ON e.job_id = c.id
        AND e.id >= COALESCE((SELECT x.id FROM job_executions x WHERE x.job_id = c.id
                              ORDER BY x.id DESC LIMIT 1 OFFSET %(offset)s), 0)
      WHERE c.id IN %(job_ids)s
      GROUP BY e.job_id) AS g
LEFT JOIN job_executions l ON l.id = g.last_started_id;

-- name: admin_finished_by_hour
-- Executions that finished in [since, until), per UTC hour and status, with the sum and count
-- of their start lateness: three range scans of job_executions_finished (status, finished_at),
-- index-only (it holds scheduled_time and started_at too: migration 0012). Grouped by the
-- hour as a number, written as text once per group: formatting every row's hour cost a
-- fifth of the statement (33,000 runs).
SELECT DATE_FORMAT(TIMESTAMPADD(HOUR, hours, '2000-01-01'), '%%Y-%%m-%%d %%H') AS hour, status,
    finished, lateness_sum, lateness_count
FROM (SELECT TIMESTAMPDIFF(HOUR, '2000-01-01', finished_at) AS hours, status,
          COUNT(*) AS finished,
          SUM(TIMESTAMPDIFF(MICROSECOND, scheduled_time, started_at) / 1000000.0) AS lateness_sum,
          COUNT(TIMESTAMPDIFF(MICROSECOND, scheduled_time, started_at)) AS lateness_count
      FROM job_executions
      WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
        AND finished_at >= %(since)s AND finished_at < %(until)s
      GROUP BY 1, 2) AS by_hour;

-- name: admin_cron_page
-- One page of crons by name after `after`, filtered by a LIKE pattern (lower case) on the
-- name or handler and by enabled: a range of the unique index on name.
SELECT * FROM cron_jobs
WHERE (%(after)s IS NULL OR name > %(after)s)
  AND (%(pattern)s IS NULL OR LOWER(name) LIKE %(pattern)s ESCAPE '\\'
       OR LOWER(handler_name) LIKE %(pattern)s ESCAPE '\\')
  AND (%(enabled)s IS NULL OR is_enabled = %(enabled)s)
ORDER BY name LIMIT %(limit)s;

-- name: admin_cron_count
-- How many crons admin_cron_page's filter matches, over every page.
SELECT COUNT(*) FROM cron_jobs
WHERE (%(pattern)s IS NULL OR LOWER(name) LIKE %(pattern)s ESCAPE '\\'
       OR LOWER(handler_name) LIKE %(pattern)s ESCAPE '\\')
  AND (%(enabled)s IS NULL OR is_enabled = %(enabled)s);

-- === readiness and metrics ===

-- name: metrics_active_counts
-- The executions not finished yet, by status (jobu_executions). The statuses are the head of
-- job_executions_finished (status, finished_at): a range of that index each, never the history.
SELECT status, COUNT(*) AS count FROM job_executions
WHERE status IN ('PENDING', 'RUNNING', 'RETRY')
GROUP BY status;

-- name: metrics_queue_waiting
-- The runnable executions of each queue (what a worker could claim now) and the oldest
-- run_after among them. claim_queue is the queue of a PENDING or RETRY row and NULL otherwise
-- (migration 0003), so this walks job_executions_claim (claim_queue, …) over the queues'
-- backlog only, never the finished rows.
SELECT claim_queue AS queue, COUNT(*) AS waiting, MIN(run_after) AS oldest FROM job_executions
WHERE claim_queue IS NOT NULL AND run_after <= %(now)s
GROUP BY claim_queue;

-- name: metrics_finished_counts
-- The executions that ended in (since, now], by final status: one range of
-- job_executions_finished (status, finished_at) per status.
SELECT status, COUNT(*) AS count FROM job_executions
WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT', 'CANCELLED', 'SKIPPED', 'MISSED')
  AND finished_at > %(since)s AND finished_at <= %(now)s
GROUP BY status;

-- name: metrics_finished_timing
-- The runs that ended in (since, now] (SUCCESS, FAILED, TIMEOUT, started): how many, their
-- average duration, and of those with a scheduled time how many and their average lateness.
SELECT COUNT(*) AS timed,
    AVG(TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) / 1000000.0) AS avg_duration,
    COUNT(scheduled_time) AS scheduled,
    AVG(TIMESTAMPDIFF(MICROSECOND, scheduled_time, started_at) / 1000000.0) AS avg_lateness
FROM job_executions
WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND finished_at > %(since)s AND finished_at <= %(now)s
  AND started_at IS NOT NULL;

-- name: metrics_duration_rank
-- The duration at a rank (0 = shortest) among the runs of metrics_finished_timing: the p95
-- by nearest rank.
SELECT TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) / 1000000.0 AS value
FROM job_executions
WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND finished_at > %(since)s AND finished_at <= %(now)s
  AND started_at IS NOT NULL
ORDER BY value LIMIT 1 OFFSET %(rank)s;

-- name: metrics_lateness_rank
-- The start lateness at a rank (0 = least late) among the runs of metrics_finished_timing
-- that have a scheduled time.
SELECT TIMESTAMPDIFF(MICROSECOND, scheduled_time, started_at) / 1000000.0 AS value
FROM job_executions
WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND finished_at > %(since)s AND finished_at <= %(now)s
  AND started_at IS NOT NULL AND scheduled_time IS NOT NULL
ORDER BY value LIMIT 1 OFFSET %(rank)s;

-- name: metrics_live_daemons
-- The registered daemons of each kind that sent a heartbeat since `since`.
SELECT kind, COUNT(*) AS count FROM workers
WHERE last_heartbeat >= %(since)s
GROUP BY kind;

-- name: metrics_dead_letters
SELECT COUNT(*) FROM dead_letters;

-- === calendars in files ===
-- Calendars declared in calendars.yaml and calendars.d/*.yaml (Store.calendar_managed*,
-- jobu.operations.calendar_files).

-- name: calendar_managed_list
-- The calendars a calendars file manages, with the file's path.
SELECT name, managed_by FROM calendars WHERE managed_by IS NOT NULL ORDER BY name;

-- name: calendar_managed_by
SELECT managed_by FROM calendars WHERE name = %(name)s;

-- name: calendar_set_managed_by
-- Not a change of the calendar's days: its version stays, so no cron is planned again.
UPDATE calendars SET managed_by = %(managed_by)s WHERE name = %(name)s;

-- === the scheduler at a glance ===

-- name: cron_counts
-- How many crons there are, and how many of them are enabled: one pass over the table (no
-- row is read back into Python), for `jobu.Client.status()` and the admin's overview.
SELECT COUNT(*) AS crons, COALESCE(SUM(CASE WHEN is_enabled THEN 1 ELSE 0 END), 0) AS enabled
FROM cron_jobs;

-- name: cron_soonest_planned
-- The enabled crons whose planned tick (next_tick_at, as the dispatcher planned it, business
-- calendars included) is after now, soonest first: along the index on next_tick_at, the first
-- `limit` of them and no more. Due and unplanned crons are read by cron_due.
SELECT name, next_tick_at FROM cron_jobs
WHERE is_enabled AND next_tick_at > %(now)s
ORDER BY next_tick_at, id
LIMIT %(limit)s;
