-- Calendars declared in a calendars file (calendars.yaml, calendars.d/*.yaml) carry the file's
-- path: the dispatcher applies the file, and `jobu calendar add`, `import` and `remove` refuse
-- to change such a calendar, naming the file that owns it. NULL: a calendar managed in the
-- database (`jobu calendar add`, the Client), or one that left its file.
-- MySQL commits DDL at once, so the column is added only while it is missing (as in 0004):
-- a migration cut short can be run again.
SET @jobu_0010 = IF(EXISTS(
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = DATABASE() AND table_name = 'calendars'
          AND column_name = 'managed_by'),
    'DO 0',
    'ALTER TABLE calendars ADD COLUMN managed_by VARCHAR(500)');

PREPARE jobu_0010 FROM @jobu_0010;

EXECUTE jobu_0010;

DEALLOCATE PREPARE jobu_0010;
