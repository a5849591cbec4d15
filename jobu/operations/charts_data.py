"""What the admin's charts draw: a cron's last runs, and the executions finished per hour.

Each is one bounded, index-backed read. The hourly figures are bucketed by the database
(GROUP BY the UTC hour of `finished_at`, written per dialect in the named queries): the
read returns at most three rows per hour whatever the number of executions, instead of
every finished row of the window; Python only fills the empty hours and adds up the
statuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jobu.model import CronJob, ExecutionFilter, Status
from jobu.store import Store

__all__ = ["HourActivity", "RunBar", "hourly_activity", "recent_runs"]

#: The runs a cron's chart shows.
CHART_RUNS = 50
#: The hours the overview's charts cover.
ACTIVITY_HOURS = 24


@dataclass(frozen=True)
class RunBar:
    """One run of a cron's chart: its execution, outcome and how long it took."""

    execution_id: int
    status: Status
    started_at: datetime | None
    #: Seconds from start to end; None while it runs, or when it never started.
    duration_seconds: float | None


@dataclass(frozen=True)
class HourActivity:
    """The executions that finished within one UTC hour."""

    #: The start of the hour (UTC).
    hour: datetime
    succeeded: int
    #: FAILED and TIMEOUT together.
    failed: int
    #: Average seconds between scheduled time and start of those runs; None: none finished.
    avg_lateness_seconds: float | None

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed


def recent_runs(store: Store, cron: CronJob, count: int = CHART_RUNS) -> list[RunBar]:
    """The cron's newest `count` executions, oldest first (the chart reads left to right),
    along the history index job_executions_job."""
    page = store.execution_list(ExecutionFilter(job_id=cron.id), limit=count)
    return [RunBar(execution_id=run.id, status=run.status, started_at=run.started_at,
                   duration_seconds=_seconds_between(run.started_at, run.finished_at))
            for run in reversed(page.items)]


def hourly_activity(store: Store, now: datetime, hours: int = ACTIVITY_HOURS
                    ) -> list[HourActivity]:
    """The `hours` UTC hours up to and including the one `now` is in, oldest first, each
    with the executions that finished in it and their average start lateness.

    Lateness is counted by the hour a run finished, not started: that keeps the read on
    the (status, finished_at) index, and a run that has not finished has no place in it.
    """
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    since = current - timedelta(hours=hours - 1)
    found = store.execution_finished_by_hour(since, current + timedelta(hours=1))
    succeeded: dict[datetime, int] = {}
    failed: dict[datetime, int] = {}
    lateness: dict[datetime, tuple[float, int]] = {}
    for row in found:
        hour = datetime.strptime(row["hour"], "%Y-%m-%d %H").replace(tzinfo=UTC)
        counts = succeeded if row["status"] == Status.SUCCESS else failed
        counts[hour] = counts.get(hour, 0) + row["finished"]
        total, number = lateness.get(hour, (0.0, 0))
        lateness[hour] = (total + row["lateness_sum"], number + row["lateness_count"])
    activity = []
    for step in range(hours):
        hour = since + timedelta(hours=step)
        total, number = lateness.get(hour, (0.0, 0))
        activity.append(HourActivity(hour=hour, succeeded=succeeded.get(hour, 0),
                                     failed=failed.get(hour, 0),
                                     avg_lateness_seconds=total / number if number else None))
    return activity


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()
