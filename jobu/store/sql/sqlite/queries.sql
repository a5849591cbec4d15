-- jobu's queries for SQLite. Every dialect defines the same names (a test checks).
-- `now` parameters are NULL in production, meaning the database clock; tests pass a
-- time to travel without sleeping. Parameters are :name (sqlite3). Lists arrive as JSON
-- text and are read with json_each. SQLite has one writer at a time: every write
-- transaction starts with BEGIN IMMEDIATE, which is also what serialises claims.
-- julianday arithmetic is exact to about 0.1 ms, so durations are rounded to ms.
-- Times are text of one width, 'YYYY-MM-DD HH:MM:SS.ffffff', so that they compare in time
-- order: SQLite's own clock has milliseconds, so its times are padded with '000'.

-- name: migration_lock
-- The migration transaction's BEGIN IMMEDIATE already holds SQLite's one write lock.
SELECT 1;

-- name: migration_unlock
-- The write lock ends with the transaction.
SELECT 1;

-- name: migration_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       VARCHAR(200) NOT NULL,
    applied_at TEXT NOT NULL
);

-- name: migration_applied
SELECT version, name FROM schema_migrations ORDER BY version;

-- name: migration_record
INSERT INTO schema_migrations (version, name, applied_at) VALUES (:version, :name, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'));

-- name: database_now
SELECT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') AS now;

-- name: cron_insert
INSERT INTO cron_jobs (name, description, schedule, timezone, handler_name, handler_params,
    is_enabled, allow_overlap, catch_up, misfire_grace_seconds, catch_up_max_runs, dst_repeat,
    jitter_seconds, max_retry, retry_backoff_seconds, timeout_seconds, priority, queue, isolation,
    version, created_at, updated_at)
VALUES (:name, :description, :schedule, :timezone, :handler_name,
    :handler_params, :is_enabled, :allow_overlap, :catch_up,
    :misfire_grace_seconds, :catch_up_max_runs, :dst_repeat, :jitter_seconds,
    :max_retry, :retry_backoff_seconds, :timeout_seconds, :priority, :queue,
    :isolation, 1, COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')), COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')))
RETURNING id;

-- name: cron_update
-- Rewrites every writable field; a new version tells dispatchers to plan again.
-- Enabling a disabled cron forgets its last tick: it starts from now (updated_at), and
-- the ticks of the time it was disabled are neither run nor reported.
UPDATE cron_jobs SET
    last_tick_at = CASE WHEN :is_enabled AND NOT is_enabled THEN NULL ELSE last_tick_at END,
    name = :name, description = :description, schedule = :schedule,
    timezone = :timezone, handler_name = :handler_name, handler_params = :handler_params,
    is_enabled = :is_enabled, allow_overlap = :allow_overlap, catch_up = :catch_up,
    misfire_grace_seconds = :misfire_grace_seconds, catch_up_max_runs = :catch_up_max_runs,
    dst_repeat = :dst_repeat, jitter_seconds = :jitter_seconds, max_retry = :max_retry,
    retry_backoff_seconds = :retry_backoff_seconds, timeout_seconds = :timeout_seconds,
    priority = :priority, queue = :queue, isolation = :isolation,
    next_tick_at = NULL, version = version + 1, updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE id = :id;

-- name: cron_get_by_name
SELECT * FROM cron_jobs WHERE name = :name;

-- name: cron_get_by_id
SELECT * FROM cron_jobs WHERE id = :id;

-- name: cron_list
SELECT * FROM cron_jobs WHERE (NOT :enabled_only OR is_enabled) ORDER BY name;

-- name: cron_delete
DELETE FROM cron_jobs WHERE id = :id;

-- name: cron_due
-- Enabled crons whose next tick has come, and those not planned yet (new or changed).
-- NULLs sort first.
SELECT * FROM cron_jobs
WHERE is_enabled AND (next_tick_at IS NULL OR next_tick_at <= :now)
ORDER BY next_tick_at, id
LIMIT :limit;

-- name: cron_due_heads
-- cron_due, but only what tells whether a dispatcher's copy of a cron is current (version,
-- updated_at) and the ticks that change without a new version, as ONE JSON array of
-- [id, version, updated_at, last_tick_at, next_tick_at]: at the top of the hour a
-- dispatcher then reads one value per batch of due crons instead of all their columns.
SELECT json_group_array(json_array(id, version, updated_at, last_tick_at, next_tick_at))
    AS heads
FROM (SELECT id, version, updated_at, last_tick_at, next_tick_at FROM cron_jobs
      WHERE is_enabled AND (next_tick_at IS NULL OR next_tick_at <= :now)
      ORDER BY next_tick_at, id
      LIMIT :limit);

-- name: cron_get_many
SELECT * FROM cron_jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: cron_outlook
SELECT COUNT(*) AS enabled,
    COALESCE(SUM(CASE WHEN next_tick_at IS NULL THEN 1 ELSE 0 END), 0) AS unplanned
FROM cron_jobs WHERE is_enabled;

-- name: cron_next_planned
-- The enabled cron whose planned tick comes first.
SELECT name, next_tick_at FROM cron_jobs
WHERE is_enabled AND next_tick_at IS NOT NULL
ORDER BY next_tick_at, id LIMIT 1;

-- name: cron_advance_many
-- Records a dispatcher's evaluation of many crons in one statement, each only if the cron
-- is still as the dispatcher read it (same version, same last tick): this compare-and-set is
-- what keeps two dispatchers from recording the same ticks. It sets their last evaluated
-- and next tick; `disable` ends a one-shot cron. `records` is JSON, [[id, version,
-- previous_tick_at, last_tick_at, next_tick_at, disable], …]; RETURNING names the crons
-- recorded. BEGIN IMMEDIATE holds SQLite's one write lock: no other writer comes between.
-- IS is SQLite's NULL-safe =.
UPDATE cron_jobs SET last_tick_at = r.last_tick_at, next_tick_at = r.next_tick_at,
    is_enabled = is_enabled AND NOT r.disable,
    version = cron_jobs.version + r.disable,
    updated_at = CASE WHEN r.disable THEN COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
                      ELSE updated_at END
FROM (SELECT value ->> 0 AS id, value ->> 1 AS version, value ->> 2 AS previous_tick_at,
             value ->> 3 AS last_tick_at, value ->> 4 AS next_tick_at, value ->> 5 AS disable
      FROM json_each(:records)) AS r
WHERE cron_jobs.id = r.id AND cron_jobs.version = r.version
  AND cron_jobs.last_tick_at IS r.previous_tick_at
RETURNING cron_jobs.id;

-- name: execution_next_id
-- The first id a batch insert may give (execution_insert_batch). AUTOINCREMENT keeps the
-- largest id ever used in sqlite_sequence, and the transaction holds SQLite's one write
-- lock, so the ids after it belong to this transaction alone.
SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'job_executions'), 0) + 1 AS id;

-- name: execution_insert_batch
-- Many executions in one statement (jobu.store.rows explains batches; the fields of a row
-- are rows.EXECUTION_BATCH_FIELDS). Row n (from 0) gets the id :first_id + n. A row whose
-- tick (job_id, scheduled_time) or dedupe key already has one is skipped (one execution
-- per tick and per key): when the count of changes says some were, execution_ids_between
-- tells which. No RETURNING: a bulk enqueue mostly skips nothing, and then the ids are
-- known without it. The statement starts with INSERT, not WITH: Python's sqlite3 counts
-- the changes of a statement only then. The WHERE is SQLite's way to tell the ON CONFLICT
-- of the INSERT from a join's ON.
INSERT INTO job_executions (id, job_id, handler_name, params, param_source, scheduled_time,
    status, max_retry, retry_backoff_seconds, timeout_seconds, run_after, priority, queue,
    isolation, dedupe_key, error_message, finished_at, created_at, updated_at)
SELECT :first_id + r.key, r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3,
    COALESCE(r.value ->> 4, clock.now), r.value ->> 5, r.value ->> 6, r.value ->> 7,
    r.value ->> 8, COALESCE(r.value ->> 9, clock.now), r.value ->> 10, r.value ->> 11,
    r.value ->> 12, r.value ->> 13, r.value ->> 14,
    CASE WHEN r.value ->> 15 THEN clock.now END, clock.now, clock.now
FROM json_each(:rows) AS r,
    (SELECT COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')) AS now) AS clock
WHERE true
ON CONFLICT DO NOTHING;

-- name: execution_ids_between
-- The ids a batch insert gave (execution_insert_batch), when it skipped some rows.
SELECT id FROM job_executions WHERE id BETWEEN :first_id AND :last_id;

-- name: execution_get
SELECT e.*, c.name AS cron_name FROM job_executions e
LEFT JOIN cron_jobs c ON c.id = e.job_id WHERE e.id = :id;

-- name: execution_get_by_dedupe_key
SELECT e.*, c.name AS cron_name FROM job_executions e
LEFT JOIN cron_jobs c ON c.id = e.job_id WHERE e.dedupe_key = :dedupe_key;

-- name: execution_claim
-- Takes up to `limit` runnable rows of one queue in one statement; the BEGIN IMMEDIATE
-- around it keeps every other writer out until it commits. With the queue an equality,
-- the pick walks job_executions_claim (queue, priority DESC, run_after, id) in claim order
-- and stops after `limit` rows, however many wait (`queue IN (json_each …)` made SQLite
-- sort every runnable row in a temporary B-tree).
-- RETURNING names only what the claim did not set itself (the store fills in the rest).
UPDATE job_executions SET status = 'RUNNING', worker_id = :worker_id,
    attempt = attempt + 1, lease_token = :lease_token,
    lease_expires_at = (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'),
                                '+' || :lease_seconds || ' seconds') || '000'),
    started_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')), finished_at = NULL,
    result = NULL, progress = NULL, progress_note = NULL,
    updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE id IN (
    SELECT id FROM job_executions
    WHERE status IN ('PENDING', 'RETRY') AND queue = :queue
      AND run_after <= COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
    ORDER BY priority DESC, run_after, id
    LIMIT :limit)
RETURNING id, job_id, handler_name, params, param_source, scheduled_time, attempt, max_retry,
    retry_backoff_seconds, timeout_seconds, run_after, priority, queue, isolation,
    cancel_requested, lease_expires_at, started_at, error_message, dedupe_key, created_at,
    (SELECT c.name FROM cron_jobs c WHERE c.id = job_executions.job_id) AS cron_name;

-- name: execution_claim_queues
-- The claim over several queues (`queues` is a JSON array), still one statement: for each
-- queue, the correlated pick of execution_claim (up to `limit` ids, through the index);
-- of those, the best `limit` by priority and age. Only those queues × limit rows are sorted.
UPDATE job_executions SET status = 'RUNNING', worker_id = :worker_id,
    attempt = attempt + 1, lease_token = :lease_token,
    lease_expires_at = (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'),
                                '+' || :lease_seconds || ' seconds') || '000'),
    started_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')), finished_at = NULL,
    result = NULL, progress = NULL, progress_note = NULL,
    updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE id IN (
    SELECT e.id FROM json_each(:queues) AS q
    JOIN job_executions AS e ON e.id IN (
        SELECT id FROM job_executions
        WHERE status IN ('PENDING', 'RETRY') AND queue = q.value
          AND run_after <= COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
        ORDER BY priority DESC, run_after, id
        LIMIT :limit)
    ORDER BY e.priority DESC, e.run_after, e.id
    LIMIT :limit)
RETURNING id, job_id, handler_name, params, param_source, scheduled_time, attempt, max_retry,
    retry_backoff_seconds, timeout_seconds, run_after, priority, queue, isolation,
    cancel_requested, lease_expires_at, started_at, error_message, dedupe_key, created_at,
    (SELECT c.name FROM cron_jobs c WHERE c.id = job_executions.job_id) AS cron_name;

-- name: execution_complete_many
-- SUCCESS for a batch of attempts in one statement (the worker's group commit).
-- `finished` is JSON, [[id, lease_token, result as JSON text], …]. Each row is fenced by its
-- token, as every write of an attempt is; RETURNING names the rows written. The unary + keeps
-- SQLite from reading every RUNNING row through the status index (a JSON array has no
-- statistics): each row of the batch is found by its id instead.
UPDATE job_executions SET status = 'SUCCESS', result = d.result,
    finished_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')), lease_expires_at = NULL,
    updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS lease_token,
             json_extract(value, '$[2]') AS result
      FROM json_each(:finished)) AS d
WHERE job_executions.id = d.id AND job_executions.lease_token = d.lease_token
  AND +job_executions.status = 'RUNNING'
RETURNING job_executions.id;

-- name: execution_finish_states
-- The rows of outcomes whose write was fenced out: still this token but no longer RUNNING
-- means an earlier commit of the same outcome landed (its acknowledgement was lost);
-- anything else means the lease was lost.
SELECT id, status, lease_token FROM job_executions
WHERE id IN (SELECT value FROM json_each(:ids));

-- name: execution_finish_failed
-- Ends an attempt for good: FAILED, TIMEOUT or CANCELLED.
UPDATE job_executions SET status = :status, error_message = :error_message,
    finished_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')), lease_expires_at = NULL,
    updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE id = :id AND lease_token = :lease_token AND status = 'RUNNING';

-- name: execution_retry
UPDATE job_executions SET status = 'RETRY', error_message = :error_message,
    run_after = (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'), '+' || :delay_seconds || ' seconds') || '000'),
    lease_expires_at = NULL, updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE id = :id AND lease_token = :lease_token AND status = 'RUNNING';

-- name: execution_release
-- Hands an unfinished attempt back without counting it (worker shutdown). Its run_after
-- stays: it keeps its place in line, ahead of the backlog that came after it.
UPDATE job_executions SET status = CASE WHEN attempt > 1 THEN 'RETRY' ELSE 'PENDING' END,
    attempt = attempt - 1, worker_id = NULL, lease_expires_at = NULL, started_at = NULL,
    updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE id = :id AND lease_token = :lease_token AND status = 'RUNNING';

-- name: execution_progress
UPDATE job_executions SET progress = :progress, progress_note = :progress_note,
    updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE id = :id AND lease_token = :lease_token AND status = 'RUNNING';

-- name: execution_error_insert
-- Records why the current attempt of an execution ended, with its attempt and worker.
INSERT INTO execution_errors (execution_id, attempt, status, error_message, traceback,
    worker_id, occurred_at)
SELECT id, attempt, :status, :error_message, :traceback, worker_id,
    COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
FROM job_executions WHERE id = :execution_id;

-- name: execution_errors_list
SELECT * FROM execution_errors WHERE execution_id = :execution_id ORDER BY attempt, id;

-- name: execution_renew_leases
-- Extends the leases the worker names, and only those: `held` is JSON, [[id, lease_token],
-- …], and a row is renewed while it is RUNNING on this worker under that token. A row the
-- worker does not name (a claim that committed while the worker saw an error) is left to
-- expire and be rescued. RETURNING lists the leases still held, and asked cancels. The
-- unary + makes each row found by its id, as in execution_complete_many.
UPDATE job_executions SET lease_expires_at = (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'), '+' || :lease_seconds || ' seconds') || '000')
FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS lease_token
      FROM json_each(:held)) AS h
WHERE job_executions.id = h.id AND job_executions.lease_token = h.lease_token
  AND +job_executions.status = 'RUNNING' AND job_executions.worker_id = :worker_id
RETURNING job_executions.id, job_executions.cancel_requested;

-- name: execution_expired
-- Running rows whose lease ran out: their worker is gone.
SELECT id, attempt, max_retry, lease_token, lease_expires_at, worker_id, cancel_requested
FROM job_executions
WHERE status = 'RUNNING' AND lease_expires_at < COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
ORDER BY lease_expires_at, id
LIMIT :limit;

-- name: execution_rescue
-- Takes back an attempt whose lease expired. run_after stays as it was, so a RETRY keeps its
-- place in line instead of waiting behind every row queued since. The token is cleared: a
-- late write of the lost attempt then reads as lost, not as an outcome already written.
UPDATE job_executions SET status = :status, error_message = :error_message,
    lease_token = NULL, lease_expires_at = NULL,
    finished_at = CASE WHEN :final THEN COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')) END,
    updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE id = :id AND lease_token = :lease_token AND status = 'RUNNING';

-- name: execution_cancel_waiting
UPDATE job_executions SET status = 'CANCELLED', error_message = :error_message,
    finished_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')),
    updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE id = :id AND status IN ('PENDING', 'RETRY');

-- name: execution_cancel_running
UPDATE job_executions SET cancel_requested = TRUE,
    updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE id = :id AND status = 'RUNNING';

-- name: execution_requeue
-- Runs a finished execution again from its first attempt (`jobu jobs retry`).
UPDATE job_executions SET status = 'PENDING', attempt = 0, worker_id = NULL,
    lease_token = NULL, lease_expires_at = NULL, cancel_requested = FALSE, started_at = NULL,
    finished_at = NULL, result = NULL, error_message = NULL, progress = NULL,
    progress_note = NULL, run_after = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')),
    updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE id = :id AND status NOT IN ('PENDING', 'RUNNING', 'RETRY');

-- name: execution_list
-- Newest first; `cursor` is the last id of the previous page (keyset pagination).
-- SQLite plans a statement once, before its values are known, so it cannot use an index for
-- an optional filter such as `(:job_id IS NULL OR e.job_id = :job_id)`: a cron's page would
-- walk the whole history newest first. Two arms instead, one for each shape, each planned
-- for its own (a cron's rows along job_executions_job, named so that statistics taken before
-- the crons had a history cannot turn it into a scan; all rows along the id); the arm whose
-- first condition is false is skipped before it reads a row. The same in the two below.
-- The cursor is a range (COALESCE), not an optional filter, so that a deep page starts at it.
SELECT e.*, c.name AS cron_name FROM job_executions e INDEXED BY job_executions_job
LEFT JOIN cron_jobs c ON c.id = e.job_id
WHERE :job_id IS NOT NULL AND e.job_id = :job_id
  AND e.id < COALESCE(:cursor, 9223372036854775807)
  AND (:any_status OR e.status IN (SELECT value FROM json_each(:statuses)))
  AND (:handler_name IS NULL OR e.handler_name = :handler_name)
  AND (:param_source IS NULL OR e.param_source = :param_source)
  AND (:since IS NULL OR e.scheduled_time >= :since)
  AND (:any_id OR e.id IN (SELECT value FROM json_each(:ids)))
  AND (:until IS NULL OR e.scheduled_time < :until)
UNION ALL
SELECT e.*, c.name AS cron_name FROM job_executions e
LEFT JOIN cron_jobs c ON c.id = e.job_id
WHERE :job_id IS NULL
  AND e.id < COALESCE(:cursor, 9223372036854775807)
  AND (:any_status OR e.status IN (SELECT value FROM json_each(:statuses)))
  AND (:handler_name IS NULL OR e.handler_name = :handler_name)
  AND (:param_source IS NULL OR e.param_source = :param_source)
  AND (:since IS NULL OR e.scheduled_time >= :since)
  AND (:any_id OR e.id IN (SELECT value FROM json_each(:ids)))
  AND (:until IS NULL OR e.scheduled_time < :until)
ORDER BY id DESC
LIMIT :limit;

-- name: execution_active_for_crons
-- The unfinished executions of several crons, oldest first (the overlap rule).
SELECT job_id, id, status FROM job_executions
WHERE job_id IN (SELECT value FROM json_each(:job_ids)) AND status IN ('PENDING', 'RUNNING', 'RETRY')
ORDER BY job_id, id;

-- name: execution_prune_candidates
-- Up to `limit` executions in `status` finished over `days` days ago, oldest first, each with
-- whether the statistics' totals hold it (jobu.store.rollup): those are taken out before the
-- rows are deleted, in the same write transaction.
SELECT e.id, e.job_id, e.status,
    ROUND((julianday(e.finished_at) - julianday(e.started_at)) * 86400.0, 3) AS duration,
    ROUND((julianday(e.started_at) - julianday(e.scheduled_time)) * 86400.0, 3) AS lateness,
    (e.id <= f.folded_through
     AND NOT EXISTS (SELECT 1 FROM stats_unfolded u WHERE u.execution_id = e.id)) AS folded
FROM job_executions e CROSS JOIN stats_fold f
WHERE e.status = :status
  AND e.finished_at < (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'), '-' || :days || ' days') || '000')
ORDER BY e.id LIMIT :limit;

-- name: execution_delete_ids
DELETE FROM job_executions WHERE id IN (SELECT value FROM json_each(:ids));

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
    WHERE job_id = :job_id AND id > :after
      AND id > (SELECT folded_through FROM stats_fold WHERE id = 1)
    UNION ALL
    SELECT e.status, e.started_at, e.finished_at, e.scheduled_time
    FROM stats_unfolded u CROSS JOIN job_executions e ON e.id = u.execution_id
    WHERE u.job_id = :job_id AND e.job_id = :job_id)
SELECT 'sums' AS kind, NULL AS bin, SUM(total) AS total, SUM(success) AS success,
    SUM(failed) AS failed, SUM(timeout) AS timeout, SUM(skipped) AS skipped, SUM(missed) AS missed,
    SUM(timed) AS timed, SUM(duration_sum) AS duration_sum,
    SUM(lateness_runs) AS lateness_runs, SUM(lateness_sum) AS lateness_sum,
    NULL AS duration
FROM (
    SELECT total, success, failed, timeout, skipped, missed, timed, duration_sum,
        lateness_runs, lateness_sum
    FROM stats_rollup WHERE job_id = :rollup_id
    UNION ALL
    SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'SUCCESS'),
        COUNT(*) FILTER (WHERE status = 'FAILED'), COUNT(*) FILTER (WHERE status = 'TIMEOUT'),
        COUNT(*) FILTER (WHERE status = 'SKIPPED'), COUNT(*) FILTER (WHERE status = 'MISSED'),
        COUNT(*) FILTER (WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
                           AND started_at IS NOT NULL AND finished_at IS NOT NULL),
        SUM(ROUND((julianday(finished_at) - julianday(started_at)) * 86400.0, 3)) FILTER (WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')),
        COUNT(*) FILTER (WHERE started_at IS NOT NULL AND scheduled_time IS NOT NULL),
        SUM(ROUND((julianday(started_at) - julianday(scheduled_time)) * 86400.0, 3))
    FROM live) AS parts
UNION ALL
SELECT 'bin', bin, runs, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM stats_durations WHERE job_id = :rollup_id
UNION ALL
SELECT 'live', NULL, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    ROUND((julianday(finished_at) - julianday(started_at)) * 86400.0, 3)
FROM live WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND started_at IS NOT NULL AND finished_at IS NOT NULL;

-- name: stats_crons
-- stats_cron over every cron (`rollup_id` 0); the executions above the watermark are read
-- along the primary key. An unfolded execution still belongs to its cron when its job_id is
-- still the one stats_unfolded noted (removing a cron sets it NULL): `e.job_id = u.job_id`,
-- not `e.job_id IS NOT NULL`, for which SQLite, with statistics taken before the crons had
-- a history, builds a Bloom filter by scanning all of job_executions (150 ms for 1,000,000).
WITH live AS (
    SELECT status, started_at, finished_at, scheduled_time FROM job_executions
    WHERE job_id IS NOT NULL AND id > :after
      AND id > (SELECT folded_through FROM stats_fold WHERE id = 1)
    UNION ALL
    SELECT e.status, e.started_at, e.finished_at, e.scheduled_time
    FROM stats_unfolded u CROSS JOIN job_executions e ON e.id = u.execution_id
    WHERE e.job_id = u.job_id)
SELECT 'sums' AS kind, NULL AS bin, SUM(total) AS total, SUM(success) AS success,
    SUM(failed) AS failed, SUM(timeout) AS timeout, SUM(skipped) AS skipped, SUM(missed) AS missed,
    SUM(timed) AS timed, SUM(duration_sum) AS duration_sum,
    SUM(lateness_runs) AS lateness_runs, SUM(lateness_sum) AS lateness_sum,
    NULL AS duration
FROM (
    SELECT total, success, failed, timeout, skipped, missed, timed, duration_sum,
        lateness_runs, lateness_sum
    FROM stats_rollup WHERE job_id = :rollup_id
    UNION ALL
    SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'SUCCESS'),
        COUNT(*) FILTER (WHERE status = 'FAILED'), COUNT(*) FILTER (WHERE status = 'TIMEOUT'),
        COUNT(*) FILTER (WHERE status = 'SKIPPED'), COUNT(*) FILTER (WHERE status = 'MISSED'),
        COUNT(*) FILTER (WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
                           AND started_at IS NOT NULL AND finished_at IS NOT NULL),
        SUM(ROUND((julianday(finished_at) - julianday(started_at)) * 86400.0, 3)) FILTER (WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')),
        COUNT(*) FILTER (WHERE started_at IS NOT NULL AND scheduled_time IS NOT NULL),
        SUM(ROUND((julianday(started_at) - julianday(scheduled_time)) * 86400.0, 3))
    FROM live) AS parts
UNION ALL
SELECT 'bin', bin, runs, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM stats_durations WHERE job_id = :rollup_id
UNION ALL
SELECT 'live', NULL, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    ROUND((julianday(finished_at) - julianday(started_at)) * 86400.0, 3)
FROM live WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND started_at IS NOT NULL AND finished_at IS NOT NULL;

-- name: stats_durations_of_crons
-- The crons list's average and p95 duration of several crons (`job_ids`): their folded sums
-- (kind 'sum': runs is how many were timed, duration their total) and histograms ('bin'),
-- and the duration of each of their runs not folded yet ('live'); see stats_cron_counts.
WITH live AS (
    SELECT job_id, status, started_at, finished_at FROM job_executions
    WHERE job_id IN (SELECT value FROM json_each(:job_ids)) AND id > :after
      AND id > (SELECT folded_through FROM stats_fold WHERE id = 1)
    UNION ALL
    SELECT e.job_id, e.status, e.started_at, e.finished_at
    FROM stats_unfolded u CROSS JOIN job_executions e ON e.id = u.execution_id
    WHERE u.job_id IN (SELECT value FROM json_each(:job_ids)) AND e.job_id = u.job_id)
SELECT job_id, 'sum' AS kind, NULL AS bin, timed AS runs, duration_sum AS duration
FROM stats_rollup WHERE job_id IN (SELECT value FROM json_each(:job_ids))
UNION ALL
SELECT job_id, 'bin', bin, runs, NULL FROM stats_durations
WHERE job_id IN (SELECT value FROM json_each(:job_ids))
UNION ALL
SELECT job_id, 'live', NULL, 1, ROUND((julianday(finished_at) - julianday(started_at)) * 86400.0, 3)
FROM live WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND started_at IS NOT NULL AND finished_at IS NOT NULL;

-- name: cron_stats_last_run
SELECT status, started_at FROM job_executions
WHERE job_id = :job_id AND started_at IS NOT NULL ORDER BY id DESC LIMIT 1;

-- name: crons_stats_last_run
-- The last execution of any cron that started.
SELECT status, started_at FROM job_executions
WHERE job_id IS NOT NULL AND started_at IS NOT NULL ORDER BY id DESC LIMIT 1;

-- name: stats_fold_watermark
-- The watermark, not locked: what a statistics read passes as `after`.
SELECT folded_through FROM stats_fold WHERE id = 1;

-- name: stats_fold_lock
-- The watermark row. SQLite has one writer at a time (BEGIN IMMEDIATE): folding, a retry of a
-- finished execution, pruning and removing a cron never overlap, and need no row lock.
SELECT folded_through FROM stats_fold WHERE id = 1;

-- name: stats_fold_try_lock
-- The watermark row for folding (see stats_fold_lock).
SELECT folded_through FROM stats_fold WHERE id = 1;

-- name: stats_fold_rows
-- The next executions above the watermark, and whether each was written over `lag` seconds
-- ago (settled: the fold stops at the first that was not).
SELECT id, job_id, status,
    ROUND((julianday(finished_at) - julianday(started_at)) * 86400.0, 3) AS duration,
    ROUND((julianday(started_at) - julianday(scheduled_time)) * 86400.0, 3) AS lateness,
    created_at <= (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'), '-' || :lag || ' seconds') || '000') AS settled
FROM job_executions WHERE id > :after ORDER BY id LIMIT :limit;

-- name: stats_unfolded_rows
-- Executions below the watermark that the totals do not hold yet and that have finished
-- since (to fold), or are gone or belong to no cron any more (job_id NULL: to forget).
SELECT u.execution_id AS id, e.job_id, e.status,
    ROUND((julianday(e.finished_at) - julianday(e.started_at)) * 86400.0, 3) AS duration,
    ROUND((julianday(e.started_at) - julianday(e.scheduled_time)) * 86400.0, 3) AS lateness
FROM stats_unfolded u LEFT JOIN job_executions e ON e.id = u.execution_id
WHERE e.job_id IS NULL OR e.status NOT IN ('PENDING', 'RUNNING', 'RETRY')
ORDER BY u.execution_id LIMIT :limit;

-- name: stats_unfolded_add
INSERT OR IGNORE INTO stats_unfolded (execution_id, job_id) VALUES (:id, :job_id);

-- name: stats_unfolded_remove
DELETE FROM stats_unfolded WHERE execution_id IN (SELECT value FROM json_each(:ids));

-- name: stats_fold_advance
UPDATE stats_fold SET folded_through = :through WHERE id = 1;

-- name: stats_rollup_add
-- Adds (or, negative, takes out) tallies to crons' totals (job_id 0: every cron's), in one
-- statement: `tallies` is JSON, [[job_id, total, success, failed, timeout, skipped, missed,
-- timed, duration_sum, lateness_runs, lateness_sum], …], one row per job_id. (WHERE true:
-- an upsert from a SELECT needs a WHERE before ON CONFLICT.)
INSERT INTO stats_rollup (job_id, total, success, failed, timeout, skipped, missed, timed, duration_sum, lateness_runs, lateness_sum)
SELECT json_extract(value, '$[0]'),
    json_extract(value, '$[1]'),
    json_extract(value, '$[2]'),
    json_extract(value, '$[3]'),
    json_extract(value, '$[4]'),
    json_extract(value, '$[5]'),
    json_extract(value, '$[6]'),
    json_extract(value, '$[7]'),
    json_extract(value, '$[8]'),
    json_extract(value, '$[9]'),
    json_extract(value, '$[10]')
FROM json_each(:tallies) WHERE true
ON CONFLICT (job_id) DO UPDATE SET total = total + excluded.total,
    success = success + excluded.success,
    failed = failed + excluded.failed,
    timeout = timeout + excluded.timeout,
    skipped = skipped + excluded.skipped,
    missed = missed + excluded.missed,
    timed = timed + excluded.timed,
    duration_sum = duration_sum + excluded.duration_sum,
    lateness_runs = lateness_runs + excluded.lateness_runs,
    lateness_sum = lateness_sum + excluded.lateness_sum;

-- name: stats_durations_add
-- Adds runs to histogram bins: `bins` is JSON, [[job_id, bin, runs], …], each pair once.
INSERT INTO stats_durations (job_id, bin, runs)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
FROM json_each(:bins) WHERE true
ON CONFLICT (job_id, bin) DO UPDATE SET runs = runs + excluded.runs;

-- name: stats_rollup_of
SELECT total, success, failed, timeout, skipped, missed, timed, duration_sum, lateness_runs,
    lateness_sum
FROM stats_rollup WHERE job_id = :job_id;

-- name: stats_durations_of
SELECT bin, runs FROM stats_durations WHERE job_id = :job_id;

-- name: stats_rollup_forget
DELETE FROM stats_rollup WHERE job_id = :job_id;

-- name: stats_durations_forget
DELETE FROM stats_durations WHERE job_id = :job_id;

-- name: stats_execution_state
-- One execution for a retry, with whether the totals hold it (see
-- execution_prune_candidates).
SELECT e.id, e.job_id, e.status,
    ROUND((julianday(e.finished_at) - julianday(e.started_at)) * 86400.0, 3) AS duration,
    ROUND((julianday(e.started_at) - julianday(e.scheduled_time)) * 86400.0, 3) AS lateness,
    (e.id <= f.folded_through
     AND NOT EXISTS (SELECT 1 FROM stats_unfolded u WHERE u.execution_id = e.id)) AS folded
FROM job_executions e CROSS JOIN stats_fold f
WHERE e.id = :id;

-- name: cron_last_runs
-- The last execution that started, of each cron that has one.
SELECT e.job_id, e.status, e.started_at FROM job_executions e
WHERE e.id IN (SELECT MAX(id) FROM job_executions
               WHERE job_id IS NOT NULL AND started_at IS NOT NULL GROUP BY job_id);

-- name: worker_upsert
INSERT INTO workers (id, kind, hostname, pid, pool_size, running, handlers, queues, version,
    started_at, last_heartbeat)
VALUES (:id, :kind, :hostname, :pid, :pool_size, :running, :handlers,
    :queues, :version, COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')),
    COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')))
ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, hostname = EXCLUDED.hostname,
    pid = EXCLUDED.pid, pool_size = EXCLUDED.pool_size, running = EXCLUDED.running,
    handlers = EXCLUDED.handlers, queues = EXCLUDED.queues, version = EXCLUDED.version,
    last_heartbeat = EXCLUDED.last_heartbeat;

-- name: worker_heartbeat
UPDATE workers SET last_heartbeat = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')), running = :running
WHERE id = :id;

-- name: worker_delete
DELETE FROM workers WHERE id = :id;

-- name: worker_list
SELECT * FROM workers ORDER BY kind, hostname, pid;

-- name: worker_prune
DELETE FROM workers
WHERE last_heartbeat < (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'), '-' || :older_than_seconds || ' seconds') || '000');

-- name: decision_log_id
-- The id of this jobs database's two-phase decision log (made by migration 0002).
SELECT log_id FROM twophase_log WHERE id = 1;

-- name: decision_insert
-- A two-phase decision; a second one for the same txid breaks the primary key.
INSERT INTO twophase_decisions (txid, outcome, branches, decided_at)
VALUES (:txid, :outcome, :branches,
    COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')));

-- name: decision_get
SELECT txid, outcome, branches, decided_at, done_at FROM twophase_decisions WHERE txid = :txid;

-- name: decision_revoke
-- The coordinator turns its commit into a rollback (a participant refused to commit).
UPDATE twophase_decisions SET outcome = 'rollback'
WHERE txid = :txid AND outcome = 'commit' AND done_at IS NULL;

-- name: decision_mark_done
UPDATE twophase_decisions SET done_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE txid = :txid AND done_at IS NULL;

-- name: decision_list_pending
SELECT txid, outcome, branches, decided_at, done_at FROM twophase_decisions
WHERE done_at IS NULL ORDER BY decided_at, txid LIMIT :limit;

-- name: decision_prune
DELETE FROM twophase_decisions
WHERE done_at < (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'), '-' || :days || ' days') || '000');

-- name: cron_managed_list
-- The crons a crons file manages, with the file's path.
SELECT name, managed_by FROM cron_jobs WHERE managed_by IS NOT NULL ORDER BY name;

-- name: cron_managed_by
SELECT managed_by FROM cron_jobs WHERE name = :name;

-- name: cron_set_managed_by
-- Not a change of the cron's schedule: its version stays, so dispatchers need not re-plan.
UPDATE cron_jobs SET managed_by = :managed_by WHERE name = :name;

-- name: queue_partition_ensure
-- jobu-queued: a row for a partition it found in the brokers' metadata (none consumed yet).
INSERT INTO queue_partitions (group_id, topic, partition_id, updated_at)
VALUES (:group_id, :topic, :partition_id, COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')))
ON CONFLICT DO NOTHING;

-- name: queue_partition_list
-- The partitions of a consumer group, their positions and leases; `leased` is 1 while the
-- lease has not expired (database clock).
SELECT topic, partition_id, next_offset, owner, lease_token,
    CASE WHEN lease_expires_at > COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
         THEN 1 ELSE 0 END AS leased
FROM queue_partitions WHERE group_id = :group_id ORDER BY topic, partition_id;

-- name: queue_members_live
-- jobu-queued processes whose heartbeat is younger than a lease: they share the partitions.
SELECT COUNT(*) FROM workers WHERE kind = 'queued'
  AND last_heartbeat > (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'), '-' || :window_seconds || ' seconds') || '000');

-- name: queue_lease_take
-- Takes a partition whose lease is free or expired, under a fresh token.
UPDATE queue_partitions SET owner = :owner, lease_token = :lease_token,
    lease_expires_at = (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'), '+' || :lease_seconds || ' seconds') || '000'),
    updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE group_id = :group_id AND topic = :topic AND partition_id = :partition_id
  AND (lease_token IS NULL OR lease_expires_at IS NULL
       OR lease_expires_at <= COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')));

-- name: queue_lease_renew
-- Extends a lease still held under its token; an expired one is lost, not renewed.
UPDATE queue_partitions SET
    lease_expires_at = (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'), '+' || :lease_seconds || ' seconds') || '000')
WHERE group_id = :group_id AND topic = :topic AND partition_id = :partition_id
  AND lease_token = :lease_token
  AND lease_expires_at > COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'));

-- name: queue_lease_release
UPDATE queue_partitions SET owner = NULL, lease_token = NULL, lease_expires_at = NULL
WHERE group_id = :group_id AND topic = :topic AND partition_id = :partition_id
  AND lease_token = :lease_token;

-- name: queue_position_advance
-- Fenced: moves a partition's position only for the holder of its unexpired lease, and only
-- from the position the batch started at (-1: none yet), so no batch is written twice.
UPDATE queue_partitions SET next_offset = :next_offset,
    updated_at = COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
WHERE group_id = :group_id AND topic = :topic AND partition_id = :partition_id
  AND lease_token = :lease_token
  AND lease_expires_at > COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'))
  AND COALESCE(next_offset, -1) = :expected_offset;

-- name: dead_letter_insert
INSERT INTO dead_letters (group_id, topic, partition_id, message_offset, message_key, headers,
    raw, reason, received_at)
VALUES (:group_id, :topic, :partition_id, :message_offset, :message_key, :headers, :raw,
    :reason, COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')))
ON CONFLICT DO NOTHING;

-- name: dead_letter_list
-- Newest first; :topic NULL lists every topic's.
SELECT id, group_id, topic, partition_id, message_offset, message_key, headers, raw, reason,
    received_at
FROM dead_letters WHERE (:topic IS NULL OR topic = :topic) ORDER BY id DESC LIMIT :limit;

-- name: dead_letter_get
SELECT id, group_id, topic, partition_id, message_offset, message_key, headers, raw, reason,
    received_at
FROM dead_letters WHERE id = :id;

-- name: dead_letter_delete
DELETE FROM dead_letters WHERE id = :id;

-- name: dead_letter_set_reason
UPDATE dead_letters SET reason = :reason WHERE id = :id;

-- name: admin_user_insert
-- A user of jobu-admin; the primary key refuses a name taken.
INSERT INTO admin_users (name, role, password_hash, created_at)
VALUES (:name, :role, :password_hash, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'));

-- name: admin_user_get
SELECT name, role, password_hash, api_token_hash, created_at FROM admin_users WHERE name = :name;

-- name: admin_user_by_token
SELECT name, role, password_hash, api_token_hash, created_at FROM admin_users WHERE api_token_hash = :token_hash;

-- name: admin_user_list
SELECT name, role, password_hash, api_token_hash, created_at FROM admin_users ORDER BY name;

-- name: admin_user_delete
DELETE FROM admin_users WHERE name = :name;

-- name: admin_user_set_password
UPDATE admin_users SET password_hash = :password_hash WHERE name = :name;

-- name: admin_user_set_token
UPDATE admin_users SET api_token_hash = :token_hash WHERE name = :name;

-- name: queue_message_insert_batch
-- The key and headers of a batch's messages, beside their executions: one JSON array of
-- [execution_id, topic, partition, offset, key (base64 or null), headers (JSON text)].
INSERT INTO queue_messages (execution_id, topic, partition_id, message_offset, message_key,
    headers)
SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4,
    r.value ->> 5
FROM json_each(:rows) AS r
WHERE true
ON CONFLICT DO NOTHING;

-- name: queue_message_get
SELECT execution_id, topic, partition_id, message_offset, message_key, headers
FROM queue_messages WHERE execution_id = :execution_id;

-- name: dead_letter_prune
-- Dead letters received over `days` ago, oldest first, `limit` at a time (maintenance).
DELETE FROM dead_letters WHERE id IN (
    SELECT id FROM dead_letters
    WHERE received_at < (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'), '-' || :days || ' days') || '000')
    ORDER BY id LIMIT :limit);

-- Business calendars (jobu.calendars, Store.calendar_*).

-- name: calendar_get_by_name
SELECT * FROM calendars WHERE name = :name;

-- name: calendar_days
SELECT day, name FROM calendar_days WHERE calendar_id = :id ORDER BY day;

-- name: calendar_list
SELECT c.*, (SELECT COUNT(*) FROM calendar_days d WHERE d.calendar_id = c.id) AS day_count,
    (SELECT MIN(day) FROM calendar_days d WHERE d.calendar_id = c.id) AS first_day,
    (SELECT MAX(day) FROM calendar_days d WHERE d.calendar_id = c.id) AS last_day
FROM calendars c ORDER BY c.name;

-- name: calendar_versions
SELECT name, version FROM calendars;

-- name: calendar_insert
INSERT INTO calendars (name, description, timezone, weekend, version)
VALUES (:name, :description, :timezone, :weekend, 1)
RETURNING id;

-- name: calendar_update
UPDATE calendars SET description = :description, timezone = :timezone,
    weekend = :weekend, version = version + 1
WHERE id = :id;

-- name: calendar_days_delete
DELETE FROM calendar_days WHERE calendar_id = :id;

-- name: calendar_day_insert
INSERT INTO calendar_days (calendar_id, day, name) VALUES (:id, :day, :name);

-- name: calendar_delete
DELETE FROM calendars WHERE id = :id;

-- name: calendar_crons_replan
-- The crons whose schedule names a calendar that changed are planned again at once.
UPDATE cron_jobs SET next_tick_at = NULL WHERE schedule LIKE :pattern;

-- === audit log ===
-- jobu-admin's audit log (Store.audit_*, jobu.operations.audit): one row per change made
-- through the pages or the API and per sign-in, failed sign-in and sign-out.

-- name: audit_insert
INSERT INTO audit_log (at, actor, action, target, source, address, detail)
VALUES (COALESCE(:now, (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')), :actor, :action,
    :target, :source, :address, :detail)
RETURNING id;

-- name: audit_list
-- Newest first, older than :before_id when given (keyset); a NULL filter lets every value by.
SELECT id, at, actor, action, target, source, address, detail FROM audit_log
WHERE (:before_id IS NULL OR id < :before_id)
  AND (:actor IS NULL OR actor = :actor)
  AND (:action IS NULL OR action = :action)
  AND (:target IS NULL OR target = :target)
ORDER BY id DESC LIMIT :limit;

-- name: audit_recent_for_target
-- The time of the (:offset + 1)-th newest :action row about :target in the last
-- :window_seconds, none when there are fewer (the sign-in rate limit, per user name).
SELECT at FROM audit_log
WHERE action = :action AND target = :target
  AND at > (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'), '-' || :window_seconds || ' seconds') || '000')
ORDER BY at DESC LIMIT 1 OFFSET :offset;

-- name: audit_recent_for_address
-- As audit_recent_for_target, for the rows from one client address.
SELECT at FROM audit_log
WHERE action = :action AND address = :address
  AND at > (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'), '-' || :window_seconds || ' seconds') || '000')
ORDER BY at DESC LIMIT 1 OFFSET :offset;

-- name: audit_prune
-- Rows older than `days`, oldest first, `limit` at a time (maintenance).
DELETE FROM audit_log WHERE id IN (
    SELECT id FROM audit_log
    WHERE at < (strftime('%Y-%m-%d %H:%M:%f', COALESCE(:now, 'now'), '-' || :days || ' days') || '000')
    ORDER BY at LIMIT :limit);

-- === jobs: bulk actions, time range, live refresh ===

-- name: execution_list_states
-- The id and status of every execution a filter matches, newest first, up to `limit` (the
-- admin's bulk retry and cancel: how many, and which to act on). Same filter as
-- execution_list, in the same two arms.
SELECT e.id, e.status FROM job_executions e INDEXED BY job_executions_job
WHERE :job_id IS NOT NULL AND e.job_id = :job_id
  AND (:any_status OR e.status IN (SELECT value FROM json_each(:statuses)))
  AND (:handler_name IS NULL OR e.handler_name = :handler_name)
  AND (:param_source IS NULL OR e.param_source = :param_source)
  AND (:since IS NULL OR e.scheduled_time >= :since)
  AND (:any_id OR e.id IN (SELECT value FROM json_each(:ids)))
  AND (:until IS NULL OR e.scheduled_time < :until)
UNION ALL
SELECT e.id, e.status FROM job_executions e
WHERE :job_id IS NULL
  AND (:any_status OR e.status IN (SELECT value FROM json_each(:statuses)))
  AND (:handler_name IS NULL OR e.handler_name = :handler_name)
  AND (:param_source IS NULL OR e.param_source = :param_source)
  AND (:since IS NULL OR e.scheduled_time >= :since)
  AND (:any_id OR e.id IN (SELECT value FROM json_each(:ids)))
  AND (:until IS NULL OR e.scheduled_time < :until)
ORDER BY id DESC
LIMIT :limit;

-- name: execution_count_states
-- How many executions a filter matches, up to `limit`, and how many of those wait or run:
-- the admin's bulk retry and cancel buttons on /jobs. No order, so the database may find
-- them along any index (a status filter: job_executions_finished) instead of walking the
-- history newest first as execution_list_states does. Same filter as execution_list.
SELECT COUNT(*) AS matched,
    COUNT(*) FILTER (WHERE status IN ('PENDING', 'RUNNING', 'RETRY')) AS unfinished
FROM (SELECT e.status FROM job_executions e INDEXED BY job_executions_job
WHERE :job_id IS NOT NULL AND e.job_id = :job_id
  AND (:any_status OR e.status IN (SELECT value FROM json_each(:statuses)))
  AND (:handler_name IS NULL OR e.handler_name = :handler_name)
  AND (:param_source IS NULL OR e.param_source = :param_source)
  AND (:since IS NULL OR e.scheduled_time >= :since)
  AND (:any_id OR e.id IN (SELECT value FROM json_each(:ids)))
  AND (:until IS NULL OR e.scheduled_time < :until)
UNION ALL
SELECT e.status FROM job_executions e
WHERE :job_id IS NULL
  AND (:any_status OR e.status IN (SELECT value FROM json_each(:statuses)))
  AND (:handler_name IS NULL OR e.handler_name = :handler_name)
  AND (:param_source IS NULL OR e.param_source = :param_source)
  AND (:since IS NULL OR e.scheduled_time >= :since)
  AND (:any_id OR e.id IN (SELECT value FROM json_each(:ids)))
  AND (:until IS NULL OR e.scheduled_time < :until)
LIMIT :limit) AS found;

-- === admin charts and the crons list ===

-- name: admin_recent_runs
-- The newest `limit` executions of each of the crons `job_ids`, a row per cron: `runs`, a JSON
-- array of [id, status] in any order, and the status and start of the newest of them that
-- started (as PostgreSQL's). The id of each cron's `limit`-th newest execution bounds a
-- range of job_executions_job (job_id, id). INDEXED BY: left to itself SQLite 3.40 reads the
-- primary key from that bound to the end, every cron's rows after it (4.7 s for 50 crons
-- over 1,000,000 executions, 11 ms with it).
SELECT g.job_id, g.runs, l.status AS last_status, l.started_at AS last_started_at
FROM (SELECT e.job_id, json_group_array(json_array(e.id, e.status)) AS runs,
          MAX(CASE WHEN e.started_at IS NOT NULL THEN e.id END) AS last_started_id
      FROM json_each(:job_ids) j
      JOIN job_executions e INDEXED BY job_executions_job ON e.job_id = j.value
        AND e.id >= COALESCE((SELECT x.id FROM job_executions x WHERE x.job_id = j.value
                              ORDER BY x.id DESC LIMIT 1 OFFSET :offset), 0)
      GROUP BY e.job_id) AS g
LEFT JOIN job_executions l ON l.id = g.last_started_id;

-- name: admin_finished_by_hour
-- Executions that finished in [since, until), per UTC hour and status, with the sum and count
-- of their start lateness: three range scans of job_executions_finished (status, finished_at).
-- Times are stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC: the hour is the first 13 characters.
SELECT substr(finished_at, 1, 13) AS hour, status, COUNT(*) AS finished,
    SUM((julianday(started_at) - julianday(scheduled_time)) * 86400.0) AS lateness_sum,
    COUNT(julianday(started_at) - julianday(scheduled_time)) AS lateness_count
FROM job_executions
WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND finished_at >= :since AND finished_at < :until
GROUP BY 1, 2;

-- name: admin_cron_page
-- One page of crons by name after `after`, filtered by a LIKE pattern (lower case) on the
-- name or handler and by enabled: a range of the unique index on name.
SELECT * FROM cron_jobs
WHERE (:after IS NULL OR name > :after)
  AND (:pattern IS NULL OR LOWER(name) LIKE :pattern ESCAPE '\'
       OR LOWER(handler_name) LIKE :pattern ESCAPE '\')
  AND (:enabled IS NULL OR is_enabled = :enabled)
ORDER BY name LIMIT :limit;

-- name: admin_cron_count
-- How many crons admin_cron_page's filter matches, over every page.
SELECT COUNT(*) FROM cron_jobs
WHERE (:pattern IS NULL OR LOWER(name) LIKE :pattern ESCAPE '\'
       OR LOWER(handler_name) LIKE :pattern ESCAPE '\')
  AND (:enabled IS NULL OR is_enabled = :enabled);

-- === readiness and metrics ===

-- name: metrics_active_counts
-- The executions not finished yet, by status (jobu_executions). The statuses are the head of
-- job_executions_finished (status, finished_at): a range of that index each, never the history.
SELECT status, COUNT(*) AS count FROM job_executions
WHERE status IN ('PENDING', 'RUNNING', 'RETRY')
GROUP BY status;

-- name: metrics_queue_waiting
-- The runnable executions of each queue (what a worker could claim now) and the oldest
-- run_after among them: a walk of the partial index job_executions_claim, as long as the
-- queues' backlog and no longer.
SELECT queue, COUNT(*) AS waiting, MIN(run_after) AS oldest FROM job_executions
WHERE status IN ('PENDING', 'RETRY') AND run_after <= :now
GROUP BY queue;

-- name: metrics_finished_counts
-- The executions that ended in (since, now], by final status: one range of
-- job_executions_finished (status, finished_at) per status.
SELECT status, COUNT(*) AS count FROM job_executions
WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT', 'CANCELLED', 'SKIPPED', 'MISSED')
  AND finished_at > :since AND finished_at <= :now
GROUP BY status;

-- name: metrics_finished_timing
-- The runs that ended in (since, now] (SUCCESS, FAILED, TIMEOUT, started): how many, their
-- average duration, and of those with a scheduled time how many and their average lateness.
SELECT COUNT(*) AS timed,
    AVG(ROUND((julianday(finished_at) - julianday(started_at)) * 86400.0, 3)) AS avg_duration,
    COUNT(scheduled_time) AS scheduled,
    AVG(ROUND((julianday(started_at) - julianday(scheduled_time)) * 86400.0, 3)) AS avg_lateness
FROM job_executions
WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND finished_at > :since AND finished_at <= :now
  AND started_at IS NOT NULL;

-- name: metrics_duration_rank
-- The duration at a rank (0 = shortest) among the runs of metrics_finished_timing: the p95
-- by nearest rank.
SELECT ROUND((julianday(finished_at) - julianday(started_at)) * 86400.0, 3) AS value
FROM job_executions
WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND finished_at > :since AND finished_at <= :now
  AND started_at IS NOT NULL
ORDER BY value LIMIT 1 OFFSET :rank;

-- name: metrics_lateness_rank
-- The start lateness at a rank (0 = least late) among the runs of metrics_finished_timing
-- that have a scheduled time.
SELECT ROUND((julianday(started_at) - julianday(scheduled_time)) * 86400.0, 3) AS value
FROM job_executions
WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND finished_at > :since AND finished_at <= :now
  AND started_at IS NOT NULL AND scheduled_time IS NOT NULL
ORDER BY value LIMIT 1 OFFSET :rank;

-- name: metrics_live_daemons
-- The registered daemons of each kind that sent a heartbeat since `since`.
SELECT kind, COUNT(*) AS count FROM workers
WHERE last_heartbeat >= :since
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
SELECT managed_by FROM calendars WHERE name = :name;

-- name: calendar_set_managed_by
-- Not a change of the calendar's days: its version stays, so no cron is planned again.
UPDATE calendars SET managed_by = :managed_by WHERE name = :name;

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
WHERE is_enabled AND next_tick_at > :now
ORDER BY next_tick_at, id
LIMIT :limit;
