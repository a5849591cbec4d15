-- Crons declared in a crons file (crons.yaml, crons.d/*.yaml) carry the file's path: the
-- dispatcher applies the file, and `jobu cron edit`, `remove` and the admin refuse to
-- change such a cron, naming the file that owns it. NULL: a cron managed in the database
-- (added by `jobu cron add`, the Client or the admin), or one that left its file.
-- MySQL commits DDL at once, so the column is added only while it is missing (as in 0003):
-- a migration cut short can be run again.
SET @jobu_0004 = IF(EXISTS(
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = DATABASE() AND table_name = 'cron_jobs'
          AND column_name = 'managed_by'),
    'DO 0',
    'ALTER TABLE cron_jobs ADD COLUMN managed_by VARCHAR(500)');

PREPARE jobu_0004 FROM @jobu_0004;

EXECUTE jobu_0004;

DEALLOCATE PREPARE jobu_0004;
