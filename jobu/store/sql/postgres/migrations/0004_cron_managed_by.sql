-- Crons declared in a crons file (crons.yaml, crons.d/*.yaml) carry the file's path: the
-- dispatcher applies the file, and `jobu cron edit`, `remove` and the admin refuse to
-- change such a cron, naming the file that owns it. NULL: a cron managed in the database
-- (added by `jobu cron add`, the Client or the admin), or one that left its file.
ALTER TABLE cron_jobs ADD COLUMN managed_by VARCHAR(500);
