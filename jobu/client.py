"""The Python API: put work into jobu, and schedule jobs, from other programs.

    from jobu import Client

    with Client() as jobu:                          # reads /etc/jobu (or JOBU_CONFIG_DIR)
        job_id = jobu.enqueue("send_report", {"to": "ops"}, priority=5)
        print(jobu.get(job_id).status)

        # APScheduler style, but durable: every process that opens the same
        # database sees these jobs, and there is no scheduler to start.
        jobu.add_cron_job("backup", "weekly-backup", day_of_week="sun", hour=3,
                          replace_existing=True)
        jobu.add_interval_job("health_check", "health", minutes=5, replace_existing=True)

Enqueuing writes one row to the jobs database; a worker serving the handler's
queue runs it. A `dedupe_key` makes an enqueue idempotent: enqueuing the same key
again returns the id of the execution it already created. A scheduled job is a
cron, the same as `jobu cron add` makes; the dispatcher turns its ticks into
executions. Every method translates its arguments into a call of
jobu.operations, which checks them as the CLI's commands are checked; errors are
jobu.errors (InvalidInputError, CronNotFoundError, …), never a driver's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jobu import operations
from jobu.calendars import Calendar
from jobu.clock import Clock, SystemClock
from jobu.config import load_config, parse_database_url
from jobu.errors import InvalidInputError
from jobu.model import CronJob, Execution, Isolation
from jobu.operations import calendars as calendar_operations
from jobu.operations.crons import CronRules, spec_of
from jobu.operations.handler_refs import HandlerRef, handler_name_of
from jobu.operations.jobs import JobInfo
from jobu.operations.stats import JobStats
from jobu.operations.status import SchedulerStatus
from jobu.operations.triggers import cron_expression, date_expression, interval_expression
from jobu.store import Store, open_store

__all__ = ["Client", "JobInfo", "JobStats", "SchedulerStatus"]


class Client:
    """A connection to jobu's jobs database: enqueue, schedule, inspect.

    With `database_url`, that database is used and no configuration is read (crons
    then default to UTC and dispatcher.yaml's default minimum interval); otherwise
    the configuration in `config_dir` (default: JOBU_CONFIG_DIR, else /etc/jobu),
    whose dispatcher.yaml gives crons their default time zone and minimum interval.
    Thread-safe; close it when done.
    """

    def __init__(self, config_dir: str | Path | None = None,
                 database_url: str | None = None, *, clock: Clock | None = None) -> None:
        if database_url is not None:
            spec = parse_database_url(database_url)
            self._rules = CronRules()
        else:
            config = load_config(config_dir, secrets_of=())  # the queue's and admin's are not its
            spec = config.jobs_database
            self._rules = CronRules.of(config.dispatcher)
        self._clock: Clock = clock or SystemClock()
        self._store: Store = open_store(spec)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._store.close()

    # --- on-demand executions --------------------------------------------------------

    def enqueue(self, handler_name: str, params: Mapping[str, Any] | None = None, *,
                priority: int = 0, queue: str = "default", max_retry: int = 0,
                retry_backoff_seconds: float = 10.0, timeout_seconds: float | None = None,
                run_after: datetime | None = None, dedupe_key: str | None = None,
                isolation: Isolation | str = Isolation.THREAD) -> int:
        """Create one execution of `handler_name`; return its id."""
        new = operations.new_execution(
            handler_name, params, priority=priority, queue=queue, max_retry=max_retry,
            retry_backoff_seconds=retry_backoff_seconds, timeout_seconds=timeout_seconds,
            run_after=run_after, dedupe_key=dedupe_key, isolation=isolation)
        return operations.enqueue(self._store, new)

    def enqueue_many(self, handler_name: str, params_list: Iterable[Mapping[str, Any] | None],
                     **options: Any) -> list[int]:
        """Create one execution per params mapping, all in one transaction; return the ids.

        At most MAX_ENQUEUE_COUNT of them (InvalidInputError beyond, before any is made).
        """
        return operations.enqueue_many(self._store, handler_name, params_list, **options)

    def get(self, execution_id: int) -> Execution:
        """The execution as it is now (ExecutionNotFoundError if there is none)."""
        return self._store.execution_get(execution_id)

    def retry(self, execution_id: int) -> Execution:
        """Run a finished execution again from attempt 1 (InvalidStateError if it is not)."""
        return operations.retry_execution(self._store, execution_id)

    def cancel(self, execution_id: int) -> Execution:
        """Cancel a waiting execution, or ask the worker running it to stop."""
        return operations.cancel_execution(self._store, execution_id)

    # --- scheduled jobs (crons) ------------------------------------------------------

    def add_cron_job(self, handler: HandlerRef, name: str, *, expression: str | None = None,
                     minute: int | str | None = None, hour: int | str | None = None,
                     day: int | str | None = None, month: int | str | None = None,
                     day_of_week: str | None = None, second: int | str | None = None,
                     timezone: str | None = None, params: Mapping[str, Any] | None = None,
                     description: str = "", replace_existing: bool = False,
                     **options: Any) -> JobInfo:
        """Schedule `handler` on a cron expression, or on APScheduler's fields.

        ``add_cron_job(backup, "backup", day_of_week="sun", hour=3)`` fires on Sundays
        at 03:00:00 in `timezone` (default: dispatcher.yaml's). `options` are the
        other cron settings: max_retry, retry_backoff_seconds, timeout_seconds,
        priority, queue, allow_overlap, catch_up, misfire_grace_seconds,
        catch_up_max_runs, dst_repeat, jitter_seconds, isolation, calendar and
        on_holiday (a business calendar, `jobu calendar`, and what a tick on its
        non-working days does: "skip", "next_business_day", "previous_business_day"),
        and `enabled`, `strict` and `force` (see add_interval_job). `expression` may be a
        business-day expression: ``expression="bd -1 18:00", calendar="kr"`` fires on
        the last business day of each month at 18:00.
        """
        schedule = cron_expression(expression, minute=minute, hour=hour, day=day,
                                   month=month, day_of_week=day_of_week, second=second)
        return self._schedule(handler, name, schedule, timezone=timezone, params=params,
                              description=description, replace_existing=replace_existing,
                              **options)

    def add_interval_job(self, handler: HandlerRef, name: str, *, weeks: float = 0,
                         days: float = 0, hours: float = 0, minutes: float = 0,
                         seconds: float = 0, start: datetime | None = None,
                         timezone: str | None = None, params: Mapping[str, Any] | None = None,
                         description: str = "", replace_existing: bool = False,
                         **options: Any) -> JobInfo:
        """Schedule `handler` every so long: at `start` and every interval after it, or,
        without a start, at the multiples of the interval since the Unix epoch (every
        30 minutes fires at :00 and :30 on every host).

        `replace_existing=True` makes this idempotent, for start-up code that declares
        its jobs on every boot: a job stored as declared is left alone, one that
        differs is updated with its history kept, and a paused job stays paused
        (unless `enabled` is given). `enabled=False` adds it paused.

        A handler that no running worker reports serving (while some workers run) gives
        an UnservedHandlerWarning (jobu.errors) and the job is stored all the same: it
        waits for a worker that has it. `strict=True` refuses it (InvalidInputError);
        `force=True` does not check.
        """
        schedule = interval_expression(weeks=weeks, days=days, hours=hours, minutes=minutes,
                                       seconds=seconds, start=start)
        return self._schedule(handler, name, schedule, timezone=timezone, params=params,
                              description=description, replace_existing=replace_existing,
                              **options)

    def add_date_job(self, handler: HandlerRef, name: str, run_date: datetime | date | str,
                     *, timezone: str | None = None, params: Mapping[str, Any] | None = None,
                     description: str = "", replace_existing: bool = False,
                     **options: Any) -> JobInfo:
        """Schedule `handler` once, at `run_date` (a time without an offset is in
        `timezone`). The job is disabled once it has fired; its run stays in the
        history. Declared again unchanged after that, it is left alone."""
        return self._schedule(handler, name, date_expression(run_date), timezone=timezone,
                              params=params, description=description,
                              replace_existing=replace_existing, **options)

    def get_jobs(self) -> list[JobInfo]:
        """Every scheduled job, by name."""
        return operations.list_jobs(self._store, self._clock.now())

    def get_job(self, name: str) -> JobInfo:
        """One scheduled job (CronNotFoundError if there is none)."""
        return operations.get_job(self._store, name, self._clock.now())

    def remove_job(self, name: str) -> None:
        """Remove a scheduled job; its executions stay in the history."""
        operations.remove_cron(self._store, name)

    def pause_job(self, name: str) -> JobInfo:
        """Stop a job firing until resume_job; its ticks meanwhile are not run later."""
        operations.set_cron_enabled(self._store, name, False)
        return self.get_job(name)

    def resume_job(self, name: str) -> JobInfo:
        """Let a paused job fire again, from now on."""
        operations.set_cron_enabled(self._store, name, True)
        return self.get_job(name)

    def run_job_now(self, name: str) -> int:
        """Enqueue one execution of a job now, with its settings; return its id."""
        return operations.run_cron_now(self._store, name, self._clock)[1]

    # --- business calendars --------------------------------------------------------

    def add_calendar(self, name: str, *, days: Mapping[date | str, str] | None = None,
                     weekend: str | Iterable[str | int] | None = None,
                     timezone: str | None = None, description: str | None = None,
                     country: str | None = None, years: str | int | None = None,
                     subdivision: str | None = None, replace_days: bool = False) -> Calendar:
        """Add a business calendar, or change the fields given of one: `jobu calendar add`.

        ``add_calendar("kr", days={"2026-09-24": "Chuseok"}, timezone="Asia/Seoul")``.
        `days` (dates or YYYY-MM-DD) are added to the stored ones, or replace them with
        `replace_days`; `weekend` is e.g. "sat,sun" (the default) or "fri,sat"; `country`
        and `years` ("2026-2030") add a country's public holidays (Python's holidays
        package), the days given winning. A calendar that calendars.yaml declares is
        refused (CalendarManagedByFileError).
        """
        return calendar_operations.add_calendar(
            self._store, name, days=days, weekend=weekend, timezone=timezone,
            description=description, country=country, years=years, subdivision=subdivision,
            replace_days=replace_days)

    def get_calendars(self) -> list[dict[str, Any]]:
        """Every calendar: name, description, timezone, weekend, version, day_count,
        first_day and last_day, by name (`jobu calendar list`)."""
        return calendar_operations.list_calendars(self._store)

    def get_calendar(self, name: str) -> Calendar:
        """One calendar with its days (NotFoundError if there is none)."""
        return calendar_operations.show_calendar(self._store, name)

    def remove_calendar(self, name: str) -> None:
        """Remove a calendar that no cron names (InvalidStateError names those that do)."""
        calendar_operations.remove_calendar(self._store, name)

    # --- the scheduler at a glance ---------------------------------------------------

    def status(self) -> SchedulerStatus:
        """Live dispatchers and workers, the number of jobs, and the next fire times."""
        return operations.scheduler_status(self._store)

    def stats(self, name: str | None = None) -> JobStats:
        """What the history says about one job, or (without a name) about all of them."""
        return operations.job_stats(self._store, name)

    # --- helpers ---------------------------------------------------------------------

    def _schedule(self, handler: HandlerRef, name: str, schedule: str, *,
                  timezone: str | None, params: Mapping[str, Any] | None, description: str,
                  replace_existing: bool, enabled: bool | None = None, force: bool = False,
                  strict: bool = False, **options: Any) -> JobInfo:
        spec = spec_of(name, self._rules, schedule=schedule,
                       handler_name=handler_name_of(handler), timezone=timezone,
                       handler_params=_params(params), description=description,
                       is_enabled=True if enabled is None else enabled, **options)
        cron: CronJob = operations.declare_cron(
            self._store, spec, self._rules, self._clock, replace_existing=replace_existing,
            keep_enabled=enabled is None, force=force, strict=strict)
        return operations.get_job(self._store, cron.name, self._clock.now())


def _params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    if params is not None and not isinstance(params, Mapping):
        raise InvalidInputError(f"params must be a mapping, got {type(params).__name__}")
    return dict(params or {})

