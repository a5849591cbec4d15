"""The scheduler at a glance: its live daemons, its crons and what fires next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jobu.model import WorkerInfo
from jobu.operations.crons import next_fire_time
from jobu.store import Store

__all__ = ["NextFire", "SchedulerStatus", "scheduler_status", "served_handlers"]

#: How many of the next fire times scheduler_status lists.
NEXT_FIRES = 5


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
    """Read the status; fire times are computed from the database's clock."""
    now = store.database_now()
    daemons = store.worker_list()
    crons = store.cron_list()
    upcoming = []
    for cron in crons:
        if cron.is_enabled and (at := next_fire_time(cron, now)) is not None:
            upcoming.append(NextFire(cron.name, at))
    upcoming.sort(key=lambda fire: (fire.at, fire.name))
    return SchedulerStatus(
        dispatchers=[d for d in daemons if d.kind == "dispatcher"],
        workers=[d for d in daemons if d.kind == "worker"],
        crons=len(crons), enabled_crons=sum(1 for c in crons if c.is_enabled),
        next_fires=upcoming[:NEXT_FIRES], checked_at=now)


def served_handlers(store: Store) -> list[str]:
    """The handler names the registered workers serve, sorted: what a new cron may run."""
    return sorted({name for daemon in store.worker_list() if daemon.kind == "worker"
                   for name in daemon.handlers})
