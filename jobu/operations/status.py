"""The scheduler at a glance: its live daemons, its crons and what fires next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jobu.model import WorkerInfo
from jobu.operations.crons import next_fire_time
from jobu.store import Store

__all__ = ["LiveDaemons", "NextFire", "SchedulerStatus", "live_daemons", "scheduler_status",
           "served_handlers"]

#: How many of the next fire times scheduler_status lists.
NEXT_FIRES = 5
#: At most this many unplanned or due crons have their next fire time computed from their
#: schedule (with a dispatcher running there are none, or a few just changed).
UNPLANNED_READ = 200


@dataclass(frozen=True)
class NextFire:
    """One cron's next fire time."""

    name: str
    at: datetime


@dataclass(frozen=True)
class SchedulerStatus:
    """What runs the schedule: daemons from the `workers` table, crons, next fire times.

    Daemons are those whose rows the dispatchers have not forgotten yet (a daemon
    silent for ten minutes is); `last_heartbeat` tells how fresh each is.
    """

    dispatchers: list[WorkerInfo]
    workers: list[WorkerInfo]
    crons: int
    enabled_crons: int
    #: The soonest fire times of the enabled crons, soonest first (at most NEXT_FIRES).
    next_fires: list[NextFire]
    #: The database's clock when this was read.
    checked_at: datetime


def scheduler_status(store: Store) -> SchedulerStatus:
    """Read the status, at the database's clock.

    The next fire times are the dispatcher's plan (each cron's next_tick_at, which follows
    business calendars), the soonest read along its index: the cost does not grow with the
    number of crons. Crons it has not planned yet (new or changed ones), or whose planned
    tick is due and not yet made (no dispatcher running), have theirs computed from their
    schedule instead, at most UNPLANNED_READ of them.
    """
    now = store.database_now()
    daemons = store.worker_list()
    crons, enabled = store.cron_counts()
    upcoming = [NextFire(name, at) for name, at in store.cron_soonest_planned(now, NEXT_FIRES)]
    for cron in store.cron_due(now, limit=UNPLANNED_READ):
        if (at := next_fire_time(cron, now)) is not None:
            upcoming.append(NextFire(cron.name, at))
    upcoming.sort(key=lambda fire: (fire.at, fire.name))
    return SchedulerStatus(
        dispatchers=[d for d in daemons if d.kind == "dispatcher"],
        workers=[d for d in daemons if d.kind == "worker"],
        crons=crons, enabled_crons=enabled, next_fires=upcoming[:NEXT_FIRES], checked_at=now)


@dataclass(frozen=True)
class LiveDaemons:
    """The registered daemons, and the database's clock when they were read."""

    daemons: list[WorkerInfo]
    checked_at: datetime


def live_daemons(store: Store) -> LiveDaemons:
    """The rows of the `workers` table (dispatchers, workers, jobu-queued), at the database's
    clock: what the workers page shows, without scheduler_status's crons."""
    return LiveDaemons(daemons=store.worker_list(), checked_at=store.database_now())


def served_handlers(store: Store) -> list[str]:
    """The handler names the registered workers serve, sorted: what a new cron may run."""
    return sorted({name for daemon in store.worker_list() if daemon.kind == "worker"
                   for name in daemon.handlers})
