-- jobu's queries for PostgreSQL. Every dialect defines the same names (a test checks).
-- `now` parameters are NULL in production, meaning the database clock; tests pass a
-- time to travel without sleeping. Parameters are %(name)s (psycopg).

-- name: migration_lock
-- Serialises `jobu migrate` across hosts until the migration transaction ends.
SELECT pg_advisory_xact_lock(7305561482);

-- name: migration_unlock
-- The transaction-level lock above ends with the transaction.
SELECT 1;

-- name: migration_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       VARCHAR(200) NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
);

-- name: migration_applied
SELECT version, name FROM schema_migrations ORDER BY version;

-- name: migration_record
INSERT INTO schema_migrations (version, name, applied_at) VALUES (%(version)s, %(name)s, now());

-- name: database_now
SELECT now() AS now;

-- name: notify
-- Wakes listening daemons when the transaction commits (PostgreSQL only).
SELECT pg_notify(%(channel)s, %(payload)s);

-- name: cron_insert
INSERT INTO cron_jobs (name, description, schedule, timezone, handler_name, handler_params,
    is_enabled, allow_overlap, catch_up, misfire_grace_seconds, catch_up_max_runs, dst_repeat,
    jitter_seconds, max_retry, retry_backoff_seconds, timeout_seconds, priority, queue, isolation,
    version, created_at, updated_at)
VALUES (%(name)s, %(description)s, %(schedule)s, %(timezone)s, %(handler_name)s,
    %(handler_params)s, %(is_enabled)s, %(allow_overlap)s, %(catch_up)s,
    %(misfire_grace_seconds)s, %(catch_up_max_runs)s, %(dst_repeat)s, %(jitter_seconds)s,
    %(max_retry)s, %(retry_backoff_seconds)s, %(timeout_seconds)s, %(priority)s, %(queue)s,
    %(isolation)s, 1, COALESCE(%(now)s::timestamptz, now()), COALESCE(%(now)s::timestamptz, now()))
RETURNING id;

-- name: cron_update
-- Rewrites every writable field; a new version tells dispatchers to plan again.
-- Enabling a disabled cron forgets its last tick: it starts from now (updated_at), and
-- the ticks of the time it was disabled are neither run nor reported.
UPDATE cron_jobs SET
    last_tick_at = CASE WHEN %(is_enabled)s AND NOT is_enabled THEN NULL ELSE last_tick_at END,
    name = %(name)s, description = %(description)s, schedule = %(schedule)s,
    timezone = %(timezone)s, handler_name = %(handler_name)s, handler_params = %(handler_params)s,
    is_enabled = %(is_enabled)s, allow_overlap = %(allow_overlap)s, catch_up = %(catch_up)s,
    misfire_grace_seconds = %(misfire_grace_seconds)s, catch_up_max_runs = %(catch_up_max_runs)s,
    dst_repeat = %(dst_repeat)s, jitter_seconds = %(jitter_seconds)s, max_retry = %(max_retry)s,
    retry_backoff_seconds = %(retry_backoff_seconds)s, timeout_seconds = %(timeout_seconds)s,
    priority = %(priority)s, queue = %(queue)s, isolation = %(isolation)s,
    next_tick_at = NULL, version = version + 1, updated_at = COALESCE(%(now)s::timestamptz, now())
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
-- Enabled crons whose next tick has come, and those not planned yet (new or changed),
-- unplanned first. Two ranges of cron_jobs_due (migration 0003), each read in order and
-- only up to the limit: the unplanned by id, then the due by tick (an OR of the two would
-- read and sort every enabled cron).
SELECT * FROM (
    (SELECT * FROM cron_jobs WHERE is_enabled AND next_tick_at IS NULL
     ORDER BY next_tick_at, id LIMIT %(limit)s)
    UNION ALL
    (SELECT * FROM cron_jobs WHERE is_enabled AND next_tick_at <= %(now)s
     ORDER BY next_tick_at, id LIMIT %(limit)s)
) AS due
ORDER BY next_tick_at NULLS FIRST, id
LIMIT %(limit)s;

-- name: cron_due_heads
-- cron_due, but only what tells whether a dispatcher's copy of a cron is current (version,
-- updated_at) and the ticks that change without a new version, as ONE JSON array of
-- [id, version, updated_at, last_tick_at, next_tick_at]: at the top of the hour a
-- dispatcher then reads one value per batch of due crons instead of all their columns
-- (psycopg's pure-Python build pays some microseconds for every value). The due crons are read
-- as cron_due reads them.
SELECT json_agg(json_build_array(id, version, updated_at, last_tick_at, next_tick_at)
                ORDER BY next_tick_at NULLS FIRST, id) AS heads
FROM (SELECT * FROM (
          (SELECT id, version, updated_at, last_tick_at, next_tick_at FROM cron_jobs
           WHERE is_enabled AND next_tick_at IS NULL
           ORDER BY next_tick_at, id LIMIT %(limit)s)
          UNION ALL
          (SELECT id, version, updated_at, last_tick_at, next_tick_at FROM cron_jobs
           WHERE is_enabled AND next_tick_at <= %(now)s
           ORDER BY next_tick_at, id LIMIT %(limit)s)) AS both_ranges
      ORDER BY next_tick_at NULLS FIRST, id
      LIMIT %(limit)s) AS due;

-- name: cron_get_many
SELECT * FROM cron_jobs WHERE id = ANY(%(ids)s);

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
-- previous_tick_at, last_tick_at, next_tick_at, disable], …] with UTC times; RETURNING names
-- the crons recorded. `locked` takes the crons' row locks in id order first, so that
-- dispatchers recording the same crons queue instead of deadlocking; a cron changed by a
-- transaction that committed meanwhile is judged by its new version (READ COMMITTED
-- re-checks the WHERE on the row it waited for). The UPDATE joins the locked records
-- only: joined with both `r` and `locked`, the planner (which guesses 100 rows for a CTE)
-- compared every record with every lock, 250,000 comparisons for a batch of 500.
WITH r AS MATERIALIZED (
    SELECT (v->>0)::bigint AS id, (v->>1)::integer AS version,
           (v->>2)::timestamp AT TIME ZONE 'UTC' AS previous_tick_at,
           (v->>3)::timestamp AT TIME ZONE 'UTC' AS last_tick_at,
           (v->>4)::timestamp AT TIME ZONE 'UTC' AS next_tick_at,
           (v->>5)::boolean AS disable
    FROM jsonb_array_elements(%(records)s::jsonb) AS v
),
locked AS MATERIALIZED (
    SELECT r.* FROM r JOIN cron_jobs c ON c.id = r.id ORDER BY r.id FOR UPDATE OF c
)
UPDATE cron_jobs c SET last_tick_at = l.last_tick_at, next_tick_at = l.next_tick_at,
    is_enabled = c.is_enabled AND NOT l.disable,
    version = c.version + CASE WHEN l.disable THEN 1 ELSE 0 END,
    updated_at = CASE WHEN l.disable THEN COALESCE(%(now)s::timestamptz, now())
                      ELSE c.updated_at END
FROM locked l
WHERE c.id = l.id AND c.version = l.version
  AND c.last_tick_at IS NOT DISTINCT FROM l.previous_tick_at
RETURNING c.id;

-- name: execution_insert_batch
-- Many executions in one statement (jobu.store.rows explains batches; the fields of a row
-- are rows.EXECUTION_BATCH_FIELDS, times UTC). Each row takes its id from the sequence
-- before the insert, so the one row returned holds every row's new id in the rows' order,
-- or NULL for a row whose tick (job_id, scheduled_time) or dedupe key already had one:
-- one execution per tick and per key. jsonb is parsed once, where json's ->> would
-- parse each row's text again for every field; one JSON array is much cheaper for the
-- driver to read than a thousand rows.
WITH clock AS (SELECT COALESCE(%(now)s::timestamptz, now()) AS now),
input AS MATERIALIZED (
    SELECT nextval('job_executions_id_seq') AS id, r.n, r.v
    FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS r(v, n)
),
inserted AS (
    INSERT INTO job_executions (id, job_id, handler_name, params, param_source,
        scheduled_time, status, max_retry, retry_backoff_seconds, timeout_seconds, run_after,
        priority, queue, isolation, dedupe_key, error_message, finished_at, created_at,
        updated_at)
    SELECT input.id, (v->>0)::bigint, v->>1, v->>2, v->>3,
        COALESCE((v->>4)::timestamp AT TIME ZONE 'UTC', clock.now), v->>5,
        (v->>6)::integer, (v->>7)::float8, (v->>8)::float8,
        COALESCE((v->>9)::timestamp AT TIME ZONE 'UTC', clock.now), (v->>10)::integer,
        v->>11, v->>12, v->>13, v->>14,
        CASE WHEN (v->>15)::boolean THEN clock.now END, clock.now, clock.now
    FROM input CROSS JOIN clock
    ON CONFLICT DO NOTHING
    RETURNING id
)
SELECT json_agg(inserted.id ORDER BY input.n) AS ids
FROM input LEFT JOIN inserted ON inserted.id = input.id;

-- name: execution_get
SELECT e.*, c.name AS cron_name FROM job_executions e
LEFT JOIN cron_jobs c ON c.id = e.job_id WHERE e.id = %(id)s;

-- name: execution_get_by_dedupe_key
SELECT e.*, c.name AS cron_name FROM job_executions e
LEFT JOIN cron_jobs c ON c.id = e.job_id WHERE e.dedupe_key = %(dedupe_key)s;

-- name: execution_claim
-- Takes up to `limit` runnable rows of one queue that no other transaction holds, in one
-- statement. With the queue an equality, the pick walks job_executions_claim (queue,
-- priority DESC, run_after, id) in claim order and stops after `limit` rows: its cost does
-- not grow with the rows waiting (`queue = ANY(…)` gives no ordered path: a sort of them
-- all). MATERIALIZED keeps the locked pick from being re-planned into the UPDATE.
-- RETURNING names only what the claim did not set itself (the store fills in the rest):
-- decoding a row's columns, timestamps above all, was a no-op job's largest cost.
WITH picked AS MATERIALIZED (
    SELECT id FROM job_executions
    WHERE status IN ('PENDING', 'RETRY') AND queue = %(queue)s
      AND run_after <= COALESCE(%(now)s::timestamptz, now())
    ORDER BY priority DESC, run_after, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE job_executions e SET status = 'RUNNING', worker_id = %(worker_id)s,
    attempt = e.attempt + 1, lease_token = %(lease_token)s,
    lease_expires_at = COALESCE(%(now)s::timestamptz, now())
        + make_interval(secs => %(lease_seconds)s::float8),
    started_at = COALESCE(%(now)s::timestamptz, now()), finished_at = NULL, result = NULL,
    progress = NULL, progress_note = NULL, updated_at = COALESCE(%(now)s::timestamptz, now())
FROM picked WHERE e.id = picked.id
RETURNING e.id, e.job_id, e.handler_name, e.params, e.param_source, e.scheduled_time,
    e.attempt, e.max_retry, e.retry_backoff_seconds, e.timeout_seconds, e.run_after,
    e.priority, e.queue, e.isolation, e.cancel_requested, e.lease_expires_at, e.started_at,
    e.error_message, e.dedupe_key, e.created_at,
    (SELECT c.name FROM cron_jobs c WHERE c.id = e.job_id) AS cron_name;

-- name: execution_claim_queues
-- The claim over several queues, still one statement: for each queue, the pick of
-- execution_claim (up to `limit` rows, through the index, locked); of those, the best
-- `limit` by priority and age are taken. The final sort is of at most queues × limit rows;
-- rows picked but not taken stay locked only until the commit.
WITH picked AS MATERIALIZED (
    SELECT p.id FROM unnest(%(queues)s::text[]) AS q(queue)
    CROSS JOIN LATERAL (
        SELECT id, priority, run_after FROM job_executions
        WHERE status IN ('PENDING', 'RETRY') AND queue = q.queue
          AND run_after <= COALESCE(%(now)s::timestamptz, now())
        ORDER BY priority DESC, run_after, id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS p
    ORDER BY p.priority DESC, p.run_after, p.id
    LIMIT %(limit)s
)
UPDATE job_executions e SET status = 'RUNNING', worker_id = %(worker_id)s,
    attempt = e.attempt + 1, lease_token = %(lease_token)s,
    lease_expires_at = COALESCE(%(now)s::timestamptz, now())
        + make_interval(secs => %(lease_seconds)s::float8),
    started_at = COALESCE(%(now)s::timestamptz, now()), finished_at = NULL, result = NULL,
    progress = NULL, progress_note = NULL, updated_at = COALESCE(%(now)s::timestamptz, now())
FROM picked WHERE e.id = picked.id
RETURNING e.id, e.job_id, e.handler_name, e.params, e.param_source, e.scheduled_time,
    e.attempt, e.max_retry, e.retry_backoff_seconds, e.timeout_seconds, e.run_after,
    e.priority, e.queue, e.isolation, e.cancel_requested, e.lease_expires_at, e.started_at,
    e.error_message, e.dedupe_key, e.created_at,
    (SELECT c.name FROM cron_jobs c WHERE c.id = e.job_id) AS cron_name;

-- name: execution_complete_many
-- SUCCESS for a batch of attempts in one statement (the worker's group commit).
-- `finished` is JSON, [[id, lease_token, result as JSON text], …]: one text parameter costs
-- the driver (pure-Python psycopg) a fraction of what arrays do. Each row is fenced by its
-- token, as every write of an attempt is; RETURNING names the rows written.
-- The ids are given again as an array, so that the rows are found by primary key: the
-- planner takes a JSON array for 100 rows, and would rather read every RUNNING row.
UPDATE job_executions e SET status = 'SUCCESS', result = d.result,
    finished_at = COALESCE(%(now)s::timestamptz, now()), lease_expires_at = NULL,
    updated_at = COALESCE(%(now)s::timestamptz, now())
FROM (SELECT (v ->> 0)::bigint AS id, v ->> 1 AS lease_token, v ->> 2 AS result
      FROM json_array_elements(%(finished)s::json) AS v) AS d
WHERE e.id = ANY(ARRAY(SELECT (v ->> 0)::bigint
                       FROM json_array_elements(%(finished)s::json) AS v))
  AND e.id = d.id AND e.lease_token = d.lease_token AND e.status = 'RUNNING'
RETURNING e.id;

-- name: execution_finish_states
-- The rows of outcomes whose write was fenced out: still this token but no longer RUNNING
-- means an earlier commit of the same outcome landed (its acknowledgement was lost);
-- anything else means the lease was lost.
SELECT id, status, lease_token FROM job_executions WHERE id = ANY(%(ids)s);

-- name: execution_finish_failed
-- Ends an attempt for good: FAILED, TIMEOUT or CANCELLED.
UPDATE job_executions SET status = %(status)s, error_message = %(error_message)s,
    finished_at = COALESCE(%(now)s::timestamptz, now()), lease_expires_at = NULL,
    updated_at = COALESCE(%(now)s::timestamptz, now())
WHERE id = %(id)s AND lease_token = %(lease_token)s AND status = 'RUNNING';

-- name: execution_retry
UPDATE job_executions SET status = 'RETRY', error_message = %(error_message)s,
    run_after = COALESCE(%(now)s::timestamptz, now())
        + make_interval(secs => %(delay_seconds)s::float8),
    lease_expires_at = NULL, updated_at = COALESCE(%(now)s::timestamptz, now())
WHERE id = %(id)s AND lease_token = %(lease_token)s AND status = 'RUNNING';

-- name: execution_release
-- Hands an unfinished attempt back without counting it (worker shutdown). Its run_after
-- stays: it keeps its place in line, ahead of the backlog that came after it.
UPDATE job_executions SET status = CASE WHEN attempt > 1 THEN 'RETRY' ELSE 'PENDING' END,
    attempt = attempt - 1, worker_id = NULL, lease_expires_at = NULL, started_at = NULL,
    updated_at = COALESCE(%(now)s::timestamptz, now())
WHERE id = %(id)s AND lease_token = %(lease_token)s AND status = 'RUNNING';

-- name: execution_progress
UPDATE job_executions SET progress = %(progress)s, progress_note = %(progress_note)s,
    updated_at = COALESCE(%(now)s::timestamptz, now())
WHERE id = %(id)s AND lease_token = %(lease_token)s AND status = 'RUNNING';

-- name: execution_error_insert
-- Records why the current attempt of an execution ended, with its attempt and worker.
INSERT INTO execution_errors (execution_id, attempt, status, error_message, traceback,
    worker_id, occurred_at)
SELECT id, attempt, %(status)s, %(error_message)s, %(traceback)s, worker_id,
    COALESCE(%(now)s::timestamptz, now())
FROM job_executions WHERE id = %(execution_id)s;

-- name: execution_errors_list
SELECT * FROM execution_errors WHERE execution_id = %(execution_id)s ORDER BY attempt, id;

-- name: execution_renew_leases
-- Extends the leases the worker names, and only those: `held` is JSON, [[id, lease_token],
-- …], and a row is renewed while it is RUNNING on this worker under that token. A row the
-- worker does not name (a claim that committed while the worker saw an error) is left to
-- expire and be rescued. RETURNING lists the leases still held, and asked cancels.
-- As in execution_complete_many, the ids again as an array make the rows found by key.
UPDATE job_executions e SET lease_expires_at = COALESCE(%(now)s::timestamptz, now())
        + make_interval(secs => %(lease_seconds)s::float8)
FROM (SELECT (v ->> 0)::bigint AS id, v ->> 1 AS lease_token
      FROM json_array_elements(%(held)s::json) AS v) AS h
WHERE e.id = ANY(ARRAY(SELECT (v ->> 0)::bigint FROM json_array_elements(%(held)s::json) AS v))
  AND e.id = h.id AND e.lease_token = h.lease_token AND e.status = 'RUNNING'
  AND e.worker_id = %(worker_id)s
RETURNING e.id, e.cancel_requested;

-- name: execution_expired
-- Running rows whose lease ran out: their worker is gone. SKIP LOCKED lets several
-- rescuers share the work.
SELECT id, attempt, max_retry, lease_token, lease_expires_at, worker_id, cancel_requested
FROM job_executions
WHERE status = 'RUNNING' AND lease_expires_at < COALESCE(%(now)s::timestamptz, now())
ORDER BY lease_expires_at, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: execution_rescue
-- Takes back an attempt whose lease expired. run_after stays as it was, so a RETRY keeps its
-- place in line instead of waiting behind every row queued since. The token is cleared: a
-- late write of the lost attempt then reads as lost, not as an outcome already written.
UPDATE job_executions SET status = %(status)s, error_message = %(error_message)s,
    lease_token = NULL, lease_expires_at = NULL,
    finished_at = CASE WHEN %(final)s THEN COALESCE(%(now)s::timestamptz, now()) END,
    updated_at = COALESCE(%(now)s::timestamptz, now())
WHERE id = %(id)s AND lease_token = %(lease_token)s AND status = 'RUNNING';

-- name: execution_cancel_waiting
UPDATE job_executions SET status = 'CANCELLED', error_message = %(error_message)s,
    finished_at = COALESCE(%(now)s::timestamptz, now()),
    updated_at = COALESCE(%(now)s::timestamptz, now())
WHERE id = %(id)s AND status IN ('PENDING', 'RETRY');

-- name: execution_cancel_running
UPDATE job_executions SET cancel_requested = TRUE,
    updated_at = COALESCE(%(now)s::timestamptz, now())
WHERE id = %(id)s AND status = 'RUNNING';

-- name: execution_requeue
-- Runs a finished execution again from its first attempt (`jobu jobs retry`).
UPDATE job_executions SET status = 'PENDING', attempt = 0, worker_id = NULL,
    lease_token = NULL, lease_expires_at = NULL, cancel_requested = FALSE, started_at = NULL,
    finished_at = NULL, result = NULL, error_message = NULL, progress = NULL,
    progress_note = NULL, run_after = COALESCE(%(now)s::timestamptz, now()),
    updated_at = COALESCE(%(now)s::timestamptz, now())
WHERE id = %(id)s AND status NOT IN ('PENDING', 'RUNNING', 'RETRY');

-- name: execution_list
-- Newest first; `cursor` is the last id of the previous page (keyset pagination).
SELECT e.*, c.name AS cron_name FROM job_executions e
LEFT JOIN cron_jobs c ON c.id = e.job_id
WHERE (%(cursor)s::bigint IS NULL OR e.id < %(cursor)s::bigint)
  AND (%(any_status)s OR e.status = ANY(%(statuses)s))
  AND (%(job_id)s::bigint IS NULL OR e.job_id = %(job_id)s::bigint)
  AND (%(handler_name)s::text IS NULL OR e.handler_name = %(handler_name)s::text)
  AND (%(param_source)s::text IS NULL OR e.param_source = %(param_source)s::text)
  AND (%(since)s::timestamptz IS NULL OR e.scheduled_time >= %(since)s::timestamptz)
  AND (%(any_id)s OR e.id = ANY(%(ids)s::bigint[]))
  AND (%(until)s::timestamptz IS NULL OR e.scheduled_time < %(until)s::timestamptz)
ORDER BY e.id DESC
LIMIT %(limit)s;

-- name: execution_active_for_crons
-- The unfinished executions of several crons, oldest first (the overlap rule).
SELECT job_id, id, status FROM job_executions
WHERE job_id = ANY(%(job_ids)s) AND status IN ('PENDING', 'RUNNING', 'RETRY')
ORDER BY job_id, id;

-- name: execution_prune_candidates
-- Up to `limit` executions in `status` finished over `days` days ago, oldest first, locked
-- (rows another pruner holds are skipped), each with whether the statistics' totals hold it
-- (jobu.store.rollup): those are taken out before the rows are deleted. The caller holds the
-- lock on stats_fold, so `folded` cannot change before it deletes them.
SELECT e.id, e.job_id, e.status,
    date_part('epoch', e.finished_at - e.started_at) AS duration,
    date_part('epoch', e.started_at - e.scheduled_time) AS lateness,
    (e.id <= f.folded_through
     AND NOT EXISTS (SELECT 1 FROM stats_unfolded u WHERE u.execution_id = e.id)) AS folded
FROM job_executions e CROSS JOIN stats_fold f
WHERE e.status = %(status)s
  AND e.finished_at < COALESCE(%(now)s::timestamptz, now()) - make_interval(days => %(days)s)
ORDER BY e.id LIMIT %(limit)s
FOR UPDATE OF e SKIP LOCKED;

-- name: execution_delete_ids
DELETE FROM job_executions WHERE id = ANY(%(ids)s);

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
    FROM stats_unfolded u CROSS JOIN LATERAL (
        SELECT status, started_at, finished_at, scheduled_time, job_id FROM job_executions
        WHERE id = u.execution_id LIMIT 1) AS e
    WHERE u.job_id = %(job_id)s AND e.job_id = %(job_id)s)
SELECT 'sums' AS kind, NULL::integer AS bin, SUM(total) AS total, SUM(success) AS success,
    SUM(failed) AS failed, SUM(timeout) AS timeout, SUM(skipped) AS skipped, SUM(missed) AS missed,
    SUM(timed) AS timed, SUM(duration_sum) AS duration_sum,
    SUM(lateness_runs) AS lateness_runs, SUM(lateness_sum) AS lateness_sum,
    NULL::double precision AS duration
FROM (
    SELECT total, success, failed, timeout, skipped, missed, timed, duration_sum,
        lateness_runs, lateness_sum
    FROM stats_rollup WHERE job_id = %(rollup_id)s
    UNION ALL
    SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'SUCCESS'),
        COUNT(*) FILTER (WHERE status = 'FAILED'), COUNT(*) FILTER (WHERE status = 'TIMEOUT'),
        COUNT(*) FILTER (WHERE status = 'SKIPPED'), COUNT(*) FILTER (WHERE status = 'MISSED'),
        COUNT(*) FILTER (WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
                           AND started_at IS NOT NULL AND finished_at IS NOT NULL),
        SUM(date_part('epoch', finished_at - started_at))
            FILTER (WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')),
        COUNT(*) FILTER (WHERE started_at IS NOT NULL AND scheduled_time IS NOT NULL),
        SUM(date_part('epoch', started_at - scheduled_time))
    FROM live) AS parts
UNION ALL
SELECT 'bin', bin, runs, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM stats_durations WHERE job_id = %(rollup_id)s
UNION ALL
SELECT 'live', NULL, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    date_part('epoch', finished_at - started_at)
FROM live WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND started_at IS NOT NULL AND finished_at IS NOT NULL;

-- name: stats_crons
-- stats_cron over every cron (`rollup_id` 0); the executions above the watermark are read
-- along the primary key.
WITH live AS (
    SELECT status, started_at, finished_at, scheduled_time FROM job_executions
    WHERE job_id IS NOT NULL AND id > %(after)s
      AND id > (SELECT folded_through FROM stats_fold WHERE id = 1)
    UNION ALL
    SELECT e.status, e.started_at, e.finished_at, e.scheduled_time
    FROM stats_unfolded u CROSS JOIN LATERAL (
        SELECT status, started_at, finished_at, scheduled_time, job_id FROM job_executions
        WHERE id = u.execution_id LIMIT 1) AS e
    WHERE e.job_id IS NOT NULL)
SELECT 'sums' AS kind, NULL::integer AS bin, SUM(total) AS total, SUM(success) AS success,
    SUM(failed) AS failed, SUM(timeout) AS timeout, SUM(skipped) AS skipped, SUM(missed) AS missed,
    SUM(timed) AS timed, SUM(duration_sum) AS duration_sum,
    SUM(lateness_runs) AS lateness_runs, SUM(lateness_sum) AS lateness_sum,
    NULL::double precision AS duration
FROM (
    SELECT total, success, failed, timeout, skipped, missed, timed, duration_sum,
        lateness_runs, lateness_sum
    FROM stats_rollup WHERE job_id = %(rollup_id)s
    UNION ALL
    SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'SUCCESS'),
        COUNT(*) FILTER (WHERE status = 'FAILED'), COUNT(*) FILTER (WHERE status = 'TIMEOUT'),
        COUNT(*) FILTER (WHERE status = 'SKIPPED'), COUNT(*) FILTER (WHERE status = 'MISSED'),
        COUNT(*) FILTER (WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
                           AND started_at IS NOT NULL AND finished_at IS NOT NULL),
        SUM(date_part('epoch', finished_at - started_at))
            FILTER (WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')),
        COUNT(*) FILTER (WHERE started_at IS NOT NULL AND scheduled_time IS NOT NULL),
        SUM(date_part('epoch', started_at - scheduled_time))
    FROM live) AS parts
UNION ALL
SELECT 'bin', bin, runs, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM stats_durations WHERE job_id = %(rollup_id)s
UNION ALL
SELECT 'live', NULL, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    date_part('epoch', finished_at - started_at)
FROM live WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND started_at IS NOT NULL AND finished_at IS NOT NULL;

-- name: stats_durations_of_crons
-- The crons list's average and p95 duration of several crons (`job_ids`): their folded sums
-- (kind 'sum': runs is how many were timed, duration their total) and histograms ('bin'),
-- and the duration of each of their runs not folded yet ('live'); see stats_cron_counts.
WITH live AS (
    SELECT job_id, status, started_at, finished_at FROM job_executions
    WHERE job_id = ANY(%(job_ids)s) AND id > %(after)s
      AND id > (SELECT folded_through FROM stats_fold WHERE id = 1)
    UNION ALL
    SELECT e.job_id, e.status, e.started_at, e.finished_at
    FROM stats_unfolded u CROSS JOIN LATERAL (
        SELECT job_id, status, started_at, finished_at FROM job_executions
        WHERE id = u.execution_id LIMIT 1) AS e
    WHERE u.job_id = ANY(%(job_ids)s) AND e.job_id = u.job_id)
SELECT job_id, 'sum' AS kind, NULL::integer AS bin, timed AS runs, duration_sum AS duration
FROM stats_rollup WHERE job_id = ANY(%(job_ids)s)
UNION ALL
SELECT job_id, 'bin', bin, runs, NULL FROM stats_durations WHERE job_id = ANY(%(job_ids)s)
UNION ALL
SELECT job_id, 'live', NULL, 1, date_part('epoch', finished_at - started_at)
FROM live WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND started_at IS NOT NULL AND finished_at IS NOT NULL;

-- name: cron_stats_last_run
SELECT status, started_at FROM job_executions
WHERE job_id = %(job_id)s AND started_at IS NOT NULL ORDER BY id DESC LIMIT 1;

-- name: crons_stats_last_run
-- The last execution of any cron that started.
SELECT status, started_at FROM job_executions
WHERE job_id IS NOT NULL AND started_at IS NOT NULL ORDER BY id DESC LIMIT 1;

-- name: stats_read_setup
-- For this transaction only: no JIT compilation, and a plan made for the values given. The
-- planner's estimate for the executions stats_unfolded lists (one index lookup each) passes
-- jit_above_cost, and compiling then costs more (40 ms measured) than running the statement;
-- and the generic plan psycopg's prepared statement gets after five runs cannot know how few
-- rows lie above the watermark (`after`): it ran 70 ms where the custom plan runs 40.
SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true);

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
    date_part('epoch', finished_at - started_at) AS duration,
    date_part('epoch', started_at - scheduled_time) AS lateness,
    created_at <= COALESCE(%(now)s::timestamptz, now()) - make_interval(secs => %(lag)s)
        AS settled
FROM job_executions WHERE id > %(after)s ORDER BY id LIMIT %(limit)s;

-- name: stats_unfolded_rows
-- Executions below the watermark that the totals do not hold yet and that have finished
-- since (to fold), or are gone or belong to no cron any more (job_id NULL: to forget).
SELECT u.execution_id AS id, e.job_id, e.status,
    date_part('epoch', e.finished_at - e.started_at) AS duration,
    date_part('epoch', e.started_at - e.scheduled_time) AS lateness
FROM stats_unfolded u LEFT JOIN job_executions e ON e.id = u.execution_id
WHERE e.job_id IS NULL OR e.status NOT IN ('PENDING', 'RUNNING', 'RETRY')
ORDER BY u.execution_id LIMIT %(limit)s;

-- name: stats_unfolded_add
INSERT INTO stats_unfolded (execution_id, job_id) VALUES (%(id)s, %(job_id)s)
ON CONFLICT DO NOTHING;

-- name: stats_unfolded_remove
DELETE FROM stats_unfolded WHERE execution_id = ANY(%(ids)s);

-- name: stats_fold_advance
UPDATE stats_fold SET folded_through = %(through)s WHERE id = 1;

-- name: stats_rollup_add
-- Adds (or, negative, takes out) tallies to crons' totals (job_id 0: every cron's), in one
-- statement: `tallies` is JSON, [[job_id, total, success, failed, timeout, skipped, missed,
-- timed, duration_sum, lateness_runs, lateness_sum], …], one row per job_id.
INSERT INTO stats_rollup (job_id, total, success, failed, timeout, skipped, missed, timed, duration_sum, lateness_runs, lateness_sum)
SELECT (v ->> 0)::bigint,
    (v ->> 1)::bigint,
    (v ->> 2)::bigint,
    (v ->> 3)::bigint,
    (v ->> 4)::bigint,
    (v ->> 5)::bigint,
    (v ->> 6)::bigint,
    (v ->> 7)::bigint,
    (v ->> 8)::double precision,
    (v ->> 9)::bigint,
    (v ->> 10)::double precision
FROM json_array_elements(%(tallies)s::json) AS v
ON CONFLICT (job_id) DO UPDATE SET total = stats_rollup.total + EXCLUDED.total,
    success = stats_rollup.success + EXCLUDED.success,
    failed = stats_rollup.failed + EXCLUDED.failed,
    timeout = stats_rollup.timeout + EXCLUDED.timeout,
    skipped = stats_rollup.skipped + EXCLUDED.skipped,
    missed = stats_rollup.missed + EXCLUDED.missed,
    timed = stats_rollup.timed + EXCLUDED.timed,
    duration_sum = stats_rollup.duration_sum + EXCLUDED.duration_sum,
    lateness_runs = stats_rollup.lateness_runs + EXCLUDED.lateness_runs,
    lateness_sum = stats_rollup.lateness_sum + EXCLUDED.lateness_sum;

-- name: stats_durations_add
-- Adds runs to histogram bins: `bins` is JSON, [[job_id, bin, runs], …], each pair once.
INSERT INTO stats_durations (job_id, bin, runs)
SELECT (v ->> 0)::bigint, (v ->> 1)::integer, (v ->> 2)::bigint
FROM json_array_elements(%(bins)s::json) AS v
ON CONFLICT (job_id, bin) DO UPDATE SET runs = stats_durations.runs + EXCLUDED.runs;

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
    date_part('epoch', e.finished_at - e.started_at) AS duration,
    date_part('epoch', e.started_at - e.scheduled_time) AS lateness,
    (e.id <= f.folded_through
     AND NOT EXISTS (SELECT 1 FROM stats_unfolded u WHERE u.execution_id = e.id)) AS folded
FROM job_executions e CROSS JOIN stats_fold f
WHERE e.id = %(id)s
FOR UPDATE OF e;

-- name: cron_last_runs
-- The last execution that started, of each cron that has one.
SELECT e.job_id, e.status, e.started_at FROM job_executions e
WHERE e.id IN (SELECT MAX(id) FROM job_executions
               WHERE job_id IS NOT NULL AND started_at IS NOT NULL GROUP BY job_id);

-- name: worker_upsert
INSERT INTO workers (id, kind, hostname, pid, pool_size, running, handlers, queues, version,
    started_at, last_heartbeat)
VALUES (%(id)s, %(kind)s, %(hostname)s, %(pid)s, %(pool_size)s, %(running)s, %(handlers)s,
    %(queues)s, %(version)s, COALESCE(%(now)s::timestamptz, now()),
    COALESCE(%(now)s::timestamptz, now()))
ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, hostname = EXCLUDED.hostname,
    pid = EXCLUDED.pid, pool_size = EXCLUDED.pool_size, running = EXCLUDED.running,
    handlers = EXCLUDED.handlers, queues = EXCLUDED.queues, version = EXCLUDED.version,
    last_heartbeat = EXCLUDED.last_heartbeat;

-- name: worker_heartbeat
UPDATE workers SET last_heartbeat = COALESCE(%(now)s::timestamptz, now()), running = %(running)s
WHERE id = %(id)s;

-- name: worker_delete
DELETE FROM workers WHERE id = %(id)s;

-- name: worker_list
SELECT * FROM workers ORDER BY kind, hostname, pid;

-- name: worker_prune
DELETE FROM workers
WHERE last_heartbeat < COALESCE(%(now)s::timestamptz, now())
    - make_interval(secs => %(older_than_seconds)s::float8);

-- name: decision_log_id
-- The id of this jobs database's two-phase decision log (made by migration 0002).
SELECT log_id FROM twophase_log WHERE id = 1;

-- name: decision_insert
-- A two-phase decision; a second one for the same txid breaks the primary key.
INSERT INTO twophase_decisions (txid, outcome, branches, decided_at)
VALUES (%(txid)s, %(outcome)s, %(branches)s, COALESCE(%(now)s::timestamptz, now()));

-- name: decision_get
SELECT txid, outcome, branches, decided_at, done_at FROM twophase_decisions
WHERE txid = %(txid)s;

-- name: decision_revoke
-- The coordinator turns its commit into a rollback (a participant refused to commit).
UPDATE twophase_decisions SET outcome = 'rollback'
WHERE txid = %(txid)s AND outcome = 'commit' AND done_at IS NULL;

-- name: decision_mark_done
UPDATE twophase_decisions SET done_at = COALESCE(%(now)s::timestamptz, now())
WHERE txid = %(txid)s AND done_at IS NULL;

-- name: decision_list_pending
SELECT txid, outcome, branches, decided_at, done_at FROM twophase_decisions
WHERE done_at IS NULL ORDER BY decided_at, txid LIMIT %(limit)s;

-- name: decision_prune
DELETE FROM twophase_decisions
WHERE done_at < COALESCE(%(now)s::timestamptz, now()) - make_interval(days => %(days)s);

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
VALUES (%(group_id)s, %(topic)s, %(partition_id)s, COALESCE(%(now)s::timestamptz, now()))
ON CONFLICT DO NOTHING;

-- name: queue_partition_list
-- The partitions of a consumer group, their positions and leases; `leased` is true while the
-- lease has not expired (database clock).
SELECT topic, partition_id, next_offset, owner, lease_token,
    COALESCE(lease_expires_at > COALESCE(%(now)s::timestamptz, now()), FALSE) AS leased
FROM queue_partitions WHERE group_id = %(group_id)s ORDER BY topic, partition_id;

-- name: queue_members_live
-- jobu-queued processes whose heartbeat is younger than a lease: they share the partitions.
SELECT COUNT(*) FROM workers WHERE kind = 'queued'
  AND last_heartbeat > COALESCE(%(now)s::timestamptz, now())
      - make_interval(secs => %(window_seconds)s::float8);

-- name: queue_lease_take
-- Takes a partition whose lease is free or expired, under a fresh token.
UPDATE queue_partitions SET owner = %(owner)s, lease_token = %(lease_token)s,
    lease_expires_at = COALESCE(%(now)s::timestamptz, now())
        + make_interval(secs => %(lease_seconds)s::float8),
    updated_at = COALESCE(%(now)s::timestamptz, now())
WHERE group_id = %(group_id)s AND topic = %(topic)s AND partition_id = %(partition_id)s
  AND (lease_token IS NULL OR lease_expires_at IS NULL
       OR lease_expires_at <= COALESCE(%(now)s::timestamptz, now()));

-- name: queue_lease_renew
-- Extends a lease still held under its token; an expired one is lost, not renewed.
UPDATE queue_partitions SET lease_expires_at = COALESCE(%(now)s::timestamptz, now())
        + make_interval(secs => %(lease_seconds)s::float8)
WHERE group_id = %(group_id)s AND topic = %(topic)s AND partition_id = %(partition_id)s
  AND lease_token = %(lease_token)s
  AND lease_expires_at > COALESCE(%(now)s::timestamptz, now());

-- name: queue_lease_release
UPDATE queue_partitions SET owner = NULL, lease_token = NULL, lease_expires_at = NULL
WHERE group_id = %(group_id)s AND topic = %(topic)s AND partition_id = %(partition_id)s
  AND lease_token = %(lease_token)s;

-- name: queue_position_advance
-- Fenced: moves a partition's position only for the holder of its unexpired lease, and only
-- from the position the batch started at (-1: none yet), so no batch is written twice.
-- clock_timestamp(), not now(): the lease must hold when the row is written, not when the
-- transaction began.
UPDATE queue_partitions SET next_offset = %(next_offset)s,
    updated_at = COALESCE(%(now)s::timestamptz, now())
WHERE group_id = %(group_id)s AND topic = %(topic)s AND partition_id = %(partition_id)s
  AND lease_token = %(lease_token)s
  AND lease_expires_at > COALESCE(%(now)s::timestamptz, clock_timestamp())
  AND COALESCE(next_offset, -1) = %(expected_offset)s;

-- name: dead_letter_insert
INSERT INTO dead_letters (group_id, topic, partition_id, message_offset, message_key, headers,
    raw, reason, received_at)
VALUES (%(group_id)s, %(topic)s, %(partition_id)s, %(message_offset)s, %(message_key)s,
    %(headers)s, %(raw)s, %(reason)s, COALESCE(%(now)s::timestamptz, now()))
ON CONFLICT DO NOTHING;

-- name: dead_letter_list
-- Newest first; :topic NULL lists every topic's.
SELECT id, group_id, topic, partition_id, message_offset, message_key, headers, raw, reason,
    received_at
FROM dead_letters WHERE (%(topic)s::text IS NULL OR topic = %(topic)s)
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
VALUES (%(name)s, %(role)s, %(password_hash)s, now());

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
SELECT (v->>0)::bigint, v->>1, (v->>2)::integer, (v->>3)::bigint, v->>4, v->>5
FROM jsonb_array_elements(%(rows)s::jsonb) AS v
ON CONFLICT DO NOTHING;

-- name: queue_message_get
SELECT execution_id, topic, partition_id, message_offset, message_key, headers
FROM queue_messages WHERE execution_id = %(execution_id)s;

-- name: dead_letter_prune
-- Dead letters received over `days` ago, oldest first, `limit` at a time (maintenance).
DELETE FROM dead_letters WHERE id IN (
    SELECT id FROM dead_letters
    WHERE received_at < COALESCE(%(now)s::timestamptz, now()) - make_interval(days => %(days)s)
    ORDER BY id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED);

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
VALUES (%(name)s, %(description)s, %(timezone)s, %(weekend)s, 1)
RETURNING id;

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
VALUES (COALESCE(%(now)s::timestamptz, now()), %(actor)s, %(action)s, %(target)s, %(source)s,
    %(address)s, %(detail)s)
RETURNING id;

-- name: audit_list
-- Newest first, older than :before_id when given (keyset); a NULL filter lets every value by.
SELECT id, at, actor, action, target, source, address, detail FROM audit_log
WHERE (%(before_id)s::bigint IS NULL OR id < %(before_id)s::bigint)
  AND (%(actor)s::text IS NULL OR actor = %(actor)s)
  AND (%(action)s::text IS NULL OR action = %(action)s)
  AND (%(target)s::text IS NULL OR target = %(target)s)
ORDER BY id DESC LIMIT %(limit)s;

-- name: audit_recent_for_target
-- The time of the (:offset + 1)-th newest :action row about :target in the last
-- :window_seconds, none when there are fewer (the sign-in rate limit, per user name).
SELECT at FROM audit_log
WHERE action = %(action)s AND target = %(target)s
  AND at > COALESCE(%(now)s::timestamptz, now()) - make_interval(secs => %(window_seconds)s::float8)
ORDER BY at DESC LIMIT 1 OFFSET %(offset)s;

-- name: audit_recent_for_address
-- As audit_recent_for_target, for the rows from one client address.
SELECT at FROM audit_log
WHERE action = %(action)s AND address = %(address)s
  AND at > COALESCE(%(now)s::timestamptz, now()) - make_interval(secs => %(window_seconds)s::float8)
ORDER BY at DESC LIMIT 1 OFFSET %(offset)s;

-- name: audit_prune
-- Rows older than `days`, oldest first, `limit` at a time (maintenance).
DELETE FROM audit_log WHERE id IN (
    SELECT id FROM audit_log
    WHERE at < COALESCE(%(now)s::timestamptz, now()) - make_interval(days => %(days)s)
    ORDER BY at LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED);

-- === jobs: bulk actions, time range, live refresh ===

-- name: execution_list_states
-- The id and status of every execution a filter matches, newest first, up to `limit` (the
-- admin's bulk retry and cancel: how many, and which to act on). Same filter as execution_list.
SELECT e.id, e.status FROM job_executions e
WHERE (%(any_status)s OR e.status = ANY(%(statuses)s))
  AND (%(any_id)s OR e.id = ANY(%(ids)s::bigint[]))
  AND (%(job_id)s::bigint IS NULL OR e.job_id = %(job_id)s::bigint)
  AND (%(handler_name)s::text IS NULL OR e.handler_name = %(handler_name)s::text)
  AND (%(param_source)s::text IS NULL OR e.param_source = %(param_source)s::text)
  AND (%(since)s::timestamptz IS NULL OR e.scheduled_time >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR e.scheduled_time < %(until)s::timestamptz)
ORDER BY e.id DESC
LIMIT %(limit)s;

-- name: execution_count_states
-- How many executions a filter matches, up to `limit`, and how many of those wait or run:
-- the admin's bulk retry and cancel buttons on /jobs. No order, so the database may find
-- them along any index (a status filter: job_executions_finished) instead of walking the
-- history newest first as execution_list_states does. Same filter as execution_list.
SELECT COUNT(*) AS matched,
    COUNT(*) FILTER (WHERE status IN ('PENDING', 'RUNNING', 'RETRY')) AS unfinished
FROM (SELECT e.status FROM job_executions e
WHERE (%(any_status)s OR e.status = ANY(%(statuses)s))
  AND (%(any_id)s OR e.id = ANY(%(ids)s::bigint[]))
  AND (%(job_id)s::bigint IS NULL OR e.job_id = %(job_id)s::bigint)
  AND (%(handler_name)s::text IS NULL OR e.handler_name = %(handler_name)s::text)
  AND (%(param_source)s::text IS NULL OR e.param_source = %(param_source)s::text)
  AND (%(since)s::timestamptz IS NULL OR e.scheduled_time >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR e.scheduled_time < %(until)s::timestamptz)
LIMIT %(limit)s) AS found;

-- === admin charts and the crons list ===

-- name: admin_recent_runs
-- The newest `limit` executions of each of the crons `job_ids` (one index walk per cron down
-- job_executions_job (job_id, id), however long its history), a row per cron: `runs`, a JSON
-- array of [id, status] in any order, and the status and start of the newest of them that
-- started. One row per cron, not per run: 1,000 rows of timestamps for a page of 50 crons
-- cost 21 ms to decode, this 2 ms.
SELECT g.job_id, g.runs, l.status AS last_status, l.started_at AS last_started_at
FROM (SELECT c.id AS job_id, json_agg(json_build_array(r.id, r.status)) AS runs,
          MAX(r.id) FILTER (WHERE r.started_at IS NOT NULL) AS last_started_id
      FROM cron_jobs c
      CROSS JOIN LATERAL (
          SELECT e.id, e.status, e.started_at FROM job_executions e
          WHERE e.job_id = c.id ORDER BY e.id DESC LIMIT %(limit)s) r
      WHERE c.id = ANY(%(job_ids)s)
      GROUP BY c.id) AS g
LEFT JOIN job_executions l ON l.id = g.last_started_id;

-- name: admin_finished_by_hour
-- Executions that finished in [since, until), per UTC hour and status, with the sum and count
-- of their start lateness: three range scans of job_executions_finished (status, finished_at).
-- Grouped by date_trunc, the hour written as text once per group; date_part, a double, sums
-- at twice the speed of EXTRACT's numeric (30 ms instead of 62 for 33,000 runs).
SELECT to_char(hour, 'YYYY-MM-DD HH24') AS hour, status, finished, lateness_sum,
    lateness_count
FROM (SELECT date_trunc('hour', finished_at AT TIME ZONE 'UTC') AS hour, status,
          COUNT(*) AS finished,
          SUM(date_part('epoch', started_at - scheduled_time)) AS lateness_sum,
          COUNT(started_at - scheduled_time) AS lateness_count
      FROM job_executions
      WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
        AND finished_at >= %(since)s AND finished_at < %(until)s
      GROUP BY 1, 2) AS hours;

-- name: admin_cron_page
-- One page of crons by name after `after`, filtered by a LIKE pattern (lower case) on the
-- name or handler and by enabled: a range of the unique index on name.
SELECT * FROM cron_jobs
WHERE (%(after)s::text IS NULL OR name > %(after)s::text)
  AND (%(pattern)s::text IS NULL OR LOWER(name) LIKE %(pattern)s::text ESCAPE '\'
       OR LOWER(handler_name) LIKE %(pattern)s::text ESCAPE '\')
  AND (%(enabled)s::boolean IS NULL OR is_enabled = %(enabled)s::boolean)
ORDER BY name LIMIT %(limit)s;

-- name: admin_cron_count
-- How many crons admin_cron_page's filter matches, over every page.
SELECT COUNT(*) FROM cron_jobs
WHERE (%(pattern)s::text IS NULL OR LOWER(name) LIKE %(pattern)s::text ESCAPE '\'
       OR LOWER(handler_name) LIKE %(pattern)s::text ESCAPE '\')
  AND (%(enabled)s::boolean IS NULL OR is_enabled = %(enabled)s::boolean);

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
WHERE status IN ('PENDING', 'RETRY') AND run_after <= %(now)s::timestamptz
GROUP BY queue;

-- name: metrics_finished_counts
-- The executions that ended in (since, now], by final status: one range of
-- job_executions_finished (status, finished_at) per status.
SELECT status, COUNT(*) AS count FROM job_executions
WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT', 'CANCELLED', 'SKIPPED', 'MISSED')
  AND finished_at > %(since)s::timestamptz AND finished_at <= %(now)s::timestamptz
GROUP BY status;

-- name: metrics_finished_timing
-- The runs that ended in (since, now] (SUCCESS, FAILED, TIMEOUT, started): how many, their
-- average duration, and of those with a scheduled time how many and their average lateness.
SELECT COUNT(*) AS timed,
    AVG(EXTRACT(EPOCH FROM (finished_at - started_at))) AS avg_duration,
    COUNT(scheduled_time) AS scheduled,
    AVG(EXTRACT(EPOCH FROM (started_at - scheduled_time))) AS avg_lateness
FROM job_executions
WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND finished_at > %(since)s::timestamptz AND finished_at <= %(now)s::timestamptz
  AND started_at IS NOT NULL;

-- name: metrics_duration_rank
-- The duration at a rank (0 = shortest) among the runs of metrics_finished_timing: the p95
-- by nearest rank.
SELECT EXTRACT(EPOCH FROM (finished_at - started_at)) AS value FROM job_executions
WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND finished_at > %(since)s::timestamptz AND finished_at <= %(now)s::timestamptz
  AND started_at IS NOT NULL
ORDER BY finished_at - started_at LIMIT 1 OFFSET %(rank)s;

-- name: metrics_lateness_rank
-- The start lateness at a rank (0 = least late) among the runs of metrics_finished_timing
-- that have a scheduled time.
SELECT EXTRACT(EPOCH FROM (started_at - scheduled_time)) AS value FROM job_executions
WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
  AND finished_at > %(since)s::timestamptz AND finished_at <= %(now)s::timestamptz
  AND started_at IS NOT NULL AND scheduled_time IS NOT NULL
ORDER BY started_at - scheduled_time LIMIT 1 OFFSET %(rank)s;

-- name: metrics_live_daemons
-- The registered daemons of each kind that sent a heartbeat since `since`.
SELECT kind, COUNT(*) AS count FROM workers
WHERE last_heartbeat >= %(since)s::timestamptz
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
