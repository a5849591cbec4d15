"""What /metrics reports, and whether the jobs database is ready: read from the jobs database.

The admin's /metrics and /ready and a daemon's `metrics_bind` server call these; `jobu.metrics`
turns a snapshot into Prometheus families. Every number comes from one read transaction of the
store, whose queries each follow an index (the backlog, the recent window, the workers table),
so a scrape costs the same with a thousand or a million executions in the history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobu.clock import Clock
from jobu.model import ACTIVE_STATUSES, Status
from jobu.store import Store

__all__ = ["DAEMON_KINDS", "RECENT_WINDOW", "MetricsSnapshot", "check_ready",
           "collect_metrics", "daemon_stale_after"]

#: How far back "recent" reaches: the executions that ended in this window make the
#: finished counts, durations and lateness.
RECENT_WINDOW = timedelta(minutes=5)
#: The kinds of daemon that register in the `workers` table; each is reported, 0 included.
DAEMON_KINDS = ("dispatcher", "worker", "queued")
#: A daemon is stale after this many heartbeat intervals without one (at least
#: STALE_AFTER_MIN): the rule of the admin's /workers page, so both count the same daemons.
STALE_HEARTBEATS = 3
STALE_AFTER_MIN = timedelta(seconds=30)

FINAL_STATUSES = tuple(status for status in Status if status.is_final)


def daemon_stale_after(heartbeat_interval_seconds: float) -> timedelta:
    """How long a daemon may stay silent and still count as live."""
    return max(STALE_AFTER_MIN, STALE_HEARTBEATS * timedelta(seconds=heartbeat_interval_seconds))


@dataclass(frozen=True)
class QueueBacklog:
    """The runnable executions of one queue: how many, and how long the oldest has waited."""

    waiting: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class MetricsSnapshot:
    """The numbers of one scrape. Counts are exact; seconds are floats; a statistic of no
    execution is None (nothing to report, which is not 0)."""

    taken_at: datetime
    #: Executions not finished yet, by status (PENDING, RUNNING, RETRY; 0 included).
    active: dict[Status, int]
    #: Runnable executions by queue: every queue that has some, and the `queues` asked for.
    queues: dict[str, QueueBacklog]
    window_seconds: float
    #: Executions that ended in the window, by final status (0 included).
    finished: dict[Status, int]
    #: Runs that ended in the window (SUCCESS, FAILED, TIMEOUT) and their durations.
    timed_runs: int
    avg_duration_seconds: float | None
    p95_duration_seconds: float | None
    #: Those runs that had a scheduled time, and how late they started.
    scheduled_runs: int
    avg_start_lateness_seconds: float | None
    p95_start_lateness_seconds: float | None
    #: Live daemons by kind (DAEMON_KINDS, 0 included, and any other kind registered).
    daemons: dict[str, int]
    #: Dead letters kept by jobu-queued; None when there are none and intake is off.
    dead_letters: int | None = None


def collect_metrics(store: Store, clock: Clock, *, queues: Iterable[str] = (),
                    heartbeat_interval_seconds: float = 10.0,
                    queue_intake_enabled: bool = False,
                    window: timedelta = RECENT_WINDOW) -> MetricsSnapshot:
    """Read the numbers of one scrape at `clock`'s now.

    `queues` (worker.yaml's) are reported with 0 when nothing waits in them, so that a
    series does not vanish when its queue drains. Dead letters are reported when any exist
    or when `queue_intake_enabled` (queue.yaml's `enabled`): a host without jobu-queued
    gets no such series. Raises the store's DatabaseError when the database does not answer.
    """
    now = clock.now()
    read = store.metrics_read(
        now, finished_since=now - window,
        heartbeat_since=now - daemon_stale_after(heartbeat_interval_seconds))
    backlog = {queue: QueueBacklog(0, 0.0) for queue in queues}
    for queue, (waiting, oldest) in read["waiting"].items():
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        backlog[queue] = QueueBacklog(waiting, age)
    daemons = dict.fromkeys(DAEMON_KINDS, 0) | read["daemons"]
    dead_letters = read["dead_letters"]
    return MetricsSnapshot(
        taken_at=now,
        active={status: read["active"].get(status.value, 0)
                for status in Status if status in ACTIVE_STATUSES},
        queues=dict(sorted(backlog.items())),
        window_seconds=window.total_seconds(),
        finished={status: read["finished"].get(status.value, 0) for status in FINAL_STATUSES},
        timed_runs=read["timed"], avg_duration_seconds=read["avg_duration"],
        p95_duration_seconds=read["p95_duration"],
        scheduled_runs=read["scheduled"], avg_start_lateness_seconds=read["avg_lateness"],
        p95_start_lateness_seconds=read["p95_lateness"],
        daemons=daemons,
        dead_letters=dead_letters if dead_letters or queue_intake_enabled else None,
    )


def check_ready(store: Store) -> datetime:
    """The database's clock, when the jobs database answers and its schema is current.

    Raises DatabaseUnavailableError (it does not answer) or SchemaError (`jobu migrate`
    has not applied every migration this jobu knows), which say why.
    """
    store.check_schema()
    return store.database_now()
