-- A claim index whose order is the claim's order, so that a claim costs the same with 100
-- or 1,000,000 rows waiting. The claim (execution_claim) wants the runnable rows of one queue
-- by priority (highest first), then run_after, then id. The index of 0001, (status, queue,
-- priority, run_after), cannot give that order for two statuses (PENDING, RETRY): every
-- claim sorted every runnable row, and FOR UPDATE SKIP LOCKED locked each row it read, so a
-- concurrent claimer found nothing.
-- MySQL has no partial index, and MariaDB before 10.8 ignores DESC in an index, so two
-- generated columns stand in: claim_queue is the queue while the row is PENDING or RETRY and
-- NULL otherwise, claim_rank is -priority. A claim's `claim_queue = ?` then reads only the
-- runnable rows of its queue (the finished ones, all NULL, are never on its way), already in
-- claim order, all ascending.
-- STORED, not VIRTUAL: every claim and every outcome changes claim_queue, and a stored value
-- is not computed again when InnoDB purges old index entries. The cost is a table copy when
-- this migration runs.
-- MySQL commits DDL at once. The change is one ALTER TABLE (atomic on MySQL 8 and MariaDB
-- 10.6+), run only while the column is missing, so a migration cut short can be run again;
-- MySQL 8 has no ADD COLUMN IF NOT EXISTS, hence the prepared statement.
SET @jobu_0003 = IF(EXISTS(
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = DATABASE() AND table_name = 'job_executions'
          AND column_name = 'claim_queue'),
    'DO 0',
    'ALTER TABLE job_executions
        ADD COLUMN claim_queue VARCHAR(100)
            AS (CASE WHEN status IN (''PENDING'', ''RETRY'') THEN queue END) STORED,
        ADD COLUMN claim_rank BIGINT AS (-priority) STORED,
        DROP INDEX job_executions_claim,
        ADD INDEX job_executions_claim (claim_queue, claim_rank, run_after, id)');

PREPARE jobu_0003 FROM @jobu_0003;

EXECUTE jobu_0003;

DEALLOCATE PREPARE jobu_0003;
