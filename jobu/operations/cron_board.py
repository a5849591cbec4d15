"""The crons as a list page shows them: each with its last run, its next fire time and the
file that manages it, read in three short queries whatever the number of crons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jobu.model import CronJob, Status
from jobu.operations.crons import next_fire_time
from jobu.store import Store

__all__ = ["CronRow", "cron_board", "cron_managed_by", "cron_name_of"]


@dataclass(frozen=True)
class CronRow:
    """One cron of the list, with what the history and its schedule say about it."""

    cron: CronJob
    #: The status and start of its last execution that started (None: it never ran).
    last_status: Status | None
    last_run_at: datetime | None
    #: When it fires next (None: disabled, or a one-shot already past).
    next_fire: datetime | None
    #: The crons file that owns it, or None when it is managed in the database.
    managed_by: str | None


def cron_board(store: Store, now: datetime) -> list[CronRow]:
    """Every cron by name, with its last run and, when enabled, its next fire time after
    `now` (UTC)."""
    last_runs = store.cron_last_runs()
    managed = store.cron_managed()
    board = []
    for cron in store.cron_list():
        status, started = last_runs.get(cron.id, (None, None))
        board.append(CronRow(
            cron=cron, last_status=status, last_run_at=started,
            next_fire=next_fire_time(cron, now) if cron.is_enabled else None,
            managed_by=managed.get(cron.name)))
    return board


def cron_managed_by(store: Store, name: str) -> str | None:
    """The crons file that owns cron `name`, or None."""
    return store.cron_managed_by(name)


def cron_name_of(store: Store, job_id: int | None) -> str | None:
    """The name of the cron with id `job_id`, or None (no cron, or removed since)."""
    if job_id is None:
        return None
    return next((cron.name for cron in store.cron_list() if cron.id == job_id), None)
