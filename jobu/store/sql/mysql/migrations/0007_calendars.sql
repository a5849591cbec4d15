-- Business calendars (jobu.calendars): named sets of non-working days that a cron's schedule
-- may follow ("0 18 * * 1-5 calendar kr", "bd -1 18:00 calendar kr"). `weekend` is the weekly
-- pattern of non-working days ("sat,sun"); `timezone` the zone whose dates the days are (NULL:
-- the zone of the cron). `version` is bumped on every change so dispatchers read it again.
-- MySQL commits DDL at once: IF NOT EXISTS lets a migration cut short run again.
CREATE TABLE IF NOT EXISTS calendars (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(100) NOT NULL UNIQUE,
    description TEXT NOT NULL,
    timezone    VARCHAR(64),
    weekend     VARCHAR(40) NOT NULL DEFAULT 'sat,sun',
    version     INT NOT NULL DEFAULT 1
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per holiday: its date (YYYY-MM-DD) and its name.
CREATE TABLE IF NOT EXISTS calendar_days (
    calendar_id BIGINT NOT NULL,
    day         VARCHAR(10) NOT NULL,
    name        VARCHAR(200) NOT NULL,
    PRIMARY KEY (calendar_id, day),
    CONSTRAINT calendar_days_calendar FOREIGN KEY (calendar_id) REFERENCES calendars (id)
        ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Daylight saving by kind of expression (issue 14) is the new default, dst_repeat 'auto'. The
-- crons that had the old default now follow it; for a fixed-time cron ('30 2 * * *') nothing
-- changes, a wildcard one ('*/15 * * * *') runs through a repeated hour and gets no off-pattern
-- tick in a skipped one.
ALTER TABLE cron_jobs ALTER COLUMN dst_repeat SET DEFAULT 'auto';

UPDATE cron_jobs SET dst_repeat = 'auto' WHERE dst_repeat = 'first';
