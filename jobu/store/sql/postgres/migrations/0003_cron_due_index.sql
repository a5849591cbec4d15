-- The due crons in the order a dispatcher takes them, from an index. cron_due wants the
-- enabled crons that are unplanned (next_tick_at NULL) or due, unplanned first, then by
-- tick and id. The index of 0001, (next_tick_at) with NULLs last, gave no such order: every
-- batch of a pass read and sorted every cron, so a pass over N due crons cost N²/500 rows
-- read (10,000 due crons: 20 batches, 3–8 ms each here; 100,000: seconds). cron_due now
-- reads two ranges of this index, the NULLs by id and the due ticks in order, each stopping
-- at its limit; cron_next_planned reads its first non-NULL entry.
CREATE INDEX cron_jobs_due ON cron_jobs (next_tick_at, id) WHERE is_enabled;
DROP INDEX cron_jobs_next_tick;
