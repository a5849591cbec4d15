-- Running totals of the history (jobu.store.rollup), so that statistics of one cron or of
-- every cron do not read every execution. stats_rollup: per cron (job_id 0: every cron) the
-- totals of the finished executions folded in so far; stats_durations: a histogram of their
-- durations (bins 5 % wide, jobu.store.rollup.bin_of); stats_fold: the watermark, the highest
-- execution id the dispatcher's maintenance has folded past; stats_unfolded: executions below
-- the watermark that are not in the totals (not finished when it passed them, or run again
-- since), with their cron's id. Statistics add the executions above the watermark, read
-- along the primary key or job_executions_job, and those listed, each found by its id. A cron's rows have no foreign key: its totals leave
-- the all-crons row when it is removed (Store.cron_delete). Nothing is folded by the
-- migration: the first maintenance passes fold the existing history, a batch at a time, and
-- statistics are whole meanwhile.
CREATE TABLE IF NOT EXISTS stats_rollup (
    job_id                BIGINT PRIMARY KEY,
    total                 BIGINT NOT NULL DEFAULT 0,
    success               BIGINT NOT NULL DEFAULT 0,
    failed                BIGINT NOT NULL DEFAULT 0,
    timeout               BIGINT NOT NULL DEFAULT 0,
    skipped               BIGINT NOT NULL DEFAULT 0,
    missed                BIGINT NOT NULL DEFAULT 0,
    timed                 BIGINT NOT NULL DEFAULT 0,
    duration_sum          DOUBLE PRECISION NOT NULL DEFAULT 0,
    lateness_runs         BIGINT NOT NULL DEFAULT 0,
    lateness_sum          DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS stats_durations (
    job_id                BIGINT NOT NULL,
    bin                   INTEGER NOT NULL,
    runs                  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, bin)
);
CREATE TABLE IF NOT EXISTS stats_fold (
    id                    INTEGER PRIMARY KEY CHECK (id = 1),
    folded_through        BIGINT NOT NULL
);
INSERT INTO stats_fold (id, folded_through) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS stats_unfolded (
    execution_id          BIGINT PRIMARY KEY,
    job_id                BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS stats_unfolded_job ON stats_unfolded (job_id, execution_id);
