-- Calendars declared in a calendars file (calendars.yaml, calendars.d/*.yaml) carry the file's
-- path: the dispatcher applies the file, and `jobu calendar add`, `import` and `remove` refuse
-- to change such a calendar, naming the file that owns it. NULL: a calendar managed in the
-- database (`jobu calendar add`, the Client), or one that left its file.
ALTER TABLE calendars ADD COLUMN managed_by VARCHAR(500);
