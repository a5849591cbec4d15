-- Business calendars (jobu.calendars): named sets of non-working days that a cron's schedule
-- may follow ("0 18 * * 1-5 calendar kr", "bd -1 18:00 calendar kr"). `weekend` is the weekly
-- pattern of non-working days ("sat,sun"); `timezone` the zone whose dates the days are (NULL:
-- the zone of the cron). `version` is bumped on every change so dispatchers read it again.
CREATE TABLE calendars (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        VARCHAR(100) NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    timezone    VARCHAR(64),
    weekend     VARCHAR(40) NOT NULL DEFAULT 'sat,sun',
    version     INTEGER NOT NULL DEFAULT 1
);

-- One row per holiday: its date (YYYY-MM-DD) and its name.
CREATE TABLE calendar_days (
    calendar_id INTEGER NOT NULL REFERENCES calendars (id) ON DELETE CASCADE,
    day         VARCHAR(10) NOT NULL,
    name        VARCHAR(200) NOT NULL,
    PRIMARY KEY (calendar_id, day)
);

-- Daylight saving by kind of expression (issue 14) is the new default, dst_repeat 'auto'. The
-- crons that had the old default now follow it; for a fixed-time cron ('30 2 * * *') nothing
-- changes, a wildcard one ('*/15 * * * *') runs through a repeated hour and gets no off-pattern
-- tick in a skipped one. (SQLite cannot change a column's default; jobu always writes it.)
UPDATE cron_jobs SET dst_repeat = 'auto' WHERE dst_repeat = 'first';
