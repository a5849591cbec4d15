"""Statistics from the history: for one cron, or over every cron."""

from __future__ import annotations

from dataclasses import dataclass

from jobu.model import CronJob, CronStats
from jobu.store import Store

__all__ = ["JobStats", "cron_stats", "job_stats"]


@dataclass(frozen=True)
class JobStats(CronStats):
    """What the history says about one cron (`name`), or about every cron (`name` None,
    `job_id` 0).

    Counts are of executions: runs (scheduled or run now), and the SKIPPED and
    MISSED rows of ticks that did not run. Durations are of runs that finished
    (SUCCESS, FAILED, TIMEOUT); lateness is how long after its scheduled time a
    run started.
    """

    name: str | None

    @classmethod
    def of(cls, name: str | None, stats: CronStats) -> JobStats:
        return cls(**vars(stats), name=name)


def job_stats(store: Store, name: str | None = None) -> JobStats:
    """Statistics of the cron called `name` (CronNotFoundError if none), or of all crons.

    "All crons" are the crons that exist: a removed cron's executions stay in the
    history but belong to no cron any more.
    """
    if name is None:
        return JobStats.of(None, store.crons_stats())
    return JobStats.of(name, store.cron_stats(store.cron_get(name).id))


def cron_stats(store: Store, cron: CronJob) -> CronStats:
    """The statistics of a cron already read, by its id (as `jobu cron show` prints them)."""
    return store.cron_stats(cron.id)
