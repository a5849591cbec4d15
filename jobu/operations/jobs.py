"""Crons as the Python scheduling API shows them: JobInfo, with the trigger in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jobu.model import CronJob, Status
from jobu.operations.crons import cron_schedule, planned_fire_time
from jobu.operations.triggers import interval_words
from jobu.schedule import EPOCH, IntervalSchedule, OneShotSchedule, Schedule
from jobu.store import Store

__all__ = ["JobInfo", "describe_trigger", "job_info", "list_jobs"]


@dataclass(frozen=True)
class JobInfo:
    """A scheduled job (a cron) as `Client.get_job` and `get_jobs` return it."""

    name: str
    description: str
    handler_name: str
    params: dict[str, Any]
    #: The schedule as stored (`jobu cron show` prints the same), and in words.
    schedule: str
    timezone: str
    trigger: str
    enabled: bool
    #: In the job's time zone, with its UTC offset; None while paused or when it
    #: fires no more (a one-shot that has run).
    next_run_time: datetime | None
    last_run_at: datetime | None
    last_status: Status | None


def describe_trigger(schedule: Schedule) -> str:
    """``cron '0 3 * * *' in Europe/Berlin``, ``every 30 minutes``, ``once at …``."""
    zone = ZoneInfo(schedule.timezone)
    if isinstance(schedule, IntervalSchedule):
        words = f"every {interval_words(schedule.seconds)}"
        if schedule.anchor != EPOCH:
            words += f" from {schedule.anchor.astimezone(zone).isoformat()}"
        return words
    if isinstance(schedule, OneShotSchedule):
        return f"once at {schedule.at.astimezone(zone).isoformat()}"
    return f"cron '{schedule.expression}' in {schedule.timezone}"


def job_info(cron: CronJob, last_run: tuple[Status, datetime | None] | None,
             now: datetime) -> JobInfo:
    schedule = cron_schedule(cron)
    upcoming = planned_fire_time(cron, now)
    return JobInfo(
        name=cron.name, description=cron.description, handler_name=cron.handler_name,
        params=dict(cron.handler_params), schedule=cron.schedule, timezone=cron.timezone,
        trigger=describe_trigger(schedule), enabled=cron.is_enabled,
        next_run_time=upcoming.astimezone(ZoneInfo(cron.timezone)) if upcoming else None,
        last_run_at=last_run[1] if last_run else None,
        last_status=last_run[0] if last_run else None)


def list_jobs(store: Store, now: datetime) -> list[JobInfo]:
    """Every cron as a JobInfo, by name; two reads whatever their number."""
    last_runs = store.cron_last_runs()
    return [job_info(cron, last_runs.get(cron.id), now) for cron in store.cron_list()]


def get_job(store: Store, name: str, now: datetime) -> JobInfo:
    """One cron as a JobInfo; CronNotFoundError if there is none."""
    cron = store.cron_get(name)
    stats = store.cron_stats(cron.id)
    last = (stats.last_status, stats.last_run_at) if stats.last_status else None
    return job_info(cron, last, now)
