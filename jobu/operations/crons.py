"""Crons: add, edit, declare (idempotently), enable, disable, remove, run now, look up.

Every check on a cron is made here, once, so that the CLI, the Client and the admin
refuse a bad value with the same sentence: the fields (jobu.validation), the
minimum interval and default time zone of dispatcher.yaml (CronRules), and whether
a running worker serves the handler.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobu.calendars import (
    Calendar,
    Tick,
    compose_schedule,
    explain,
    parse_calendar_schedule,
    split_schedule,
)
from jobu.clock import Clock
from jobu.config import DispatcherConfig
from jobu.errors import (
    AlreadyExistsError,
    CronManagedByFileError,
    CronNotFoundError,
    InvalidInputError,
    InvalidStateError,
    UnservedHandlerWarning,
)
from jobu.model import (
    CRON_SPEC_FIELDS,
    CatchUp,
    CronJob,
    CronSpec,
    DstRepeat,
    Isolation,
    ParamSource,
)
from jobu.operations.types import (
    check_flag,
    check_number,
    check_text,
    check_whole_number,
    choice,
)
from jobu.planning import cron_execution
from jobu.schedule import Schedule
from jobu.store import Store
from jobu.validation import check_cron_spec, check_next_times_count

__all__ = ["CronRules", "add_cron", "check_handler_served", "check_not_managed",
           "cron_schedule", "cron_ticks", "declare_cron",
           "edit_cron", "get_cron", "list_crons", "next_fire_time", "next_fire_times",
           "planned_fire_time", "remove_cron", "run_cron_now", "set_cron_enabled"]


@dataclass(frozen=True)
class CronRules:
    """What dispatcher.yaml says about crons being added or changed."""

    #: The time zone of a cron that names none.
    default_timezone: str = "UTC"
    #: A schedule that fires more often than this is refused.
    min_interval_seconds: float = DispatcherConfig.min_cron_interval_seconds

    @classmethod
    def of(cls, settings: DispatcherConfig) -> CronRules:
        return cls(settings.timezone, settings.min_cron_interval_seconds)


def check_handler_served(store: Store, handler_name: str, *, strict: bool = False) -> None:
    """Say so when no running worker reports serving the handler, while workers report some.

    By default that is a warning (UnservedHandlerWarning): the cron or execution is
    stored and waits until a worker that has the handler starts. With `strict` it is
    refused (InvalidInputError). With no worker registered at all (a fresh install,
    workers not started yet) nothing can be known, so nothing is said.
    """
    known = sorted({name for w in store.worker_list() if w.kind == "worker"
                    for name in w.handlers})
    if not known or handler_name in known:
        return
    sentence = f"no running worker serves handler {handler_name!r} (known: {', '.join(known)})"
    if strict:
        raise InvalidInputError(f"{sentence}; start a worker that has it, or leave out "
                                "--strict (strict=False in Python) to store it all the same")
    warnings.warn(f"{sentence}; stored all the same: it waits until a worker that has it "
                  "starts", UnservedHandlerWarning, stacklevel=3)


def check_not_managed(store: Store, name: str) -> None:
    """Refuse to change or remove a cron that a crons file declares: the file owns it, and
    the dispatcher would put it back as the file says at its next reload."""
    source = store.cron_managed_by(name)
    if source is not None:
        raise CronManagedByFileError(name, source)


def check_cron(store: Store, spec: CronSpec, rules: CronRules, now: datetime, *,
               handler_changed: bool = True, force: bool = False,
               strict: bool = False) -> CronSpec:
    """Every check a cron passes before it is stored; returns it unchanged. `force` skips
    the served-handler check, `strict` makes it refuse (see check_handler_served)."""
    check_cron_spec(spec, min_interval_seconds=rules.min_interval_seconds, now=now,
                    calendar=calendar_of(store, spec))
    if handler_changed and not force:
        check_handler_served(store, spec.handler_name, strict=strict)
    return spec


def calendar_of(store: Store, cron: CronSpec) -> Calendar | None:
    """The calendar the cron's schedule names (NotFoundError if it does not exist)."""
    name = split_schedule(cron.schedule)[1]
    return store.calendar_get(name) if name is not None else None


def with_calendar(fields: dict[str, Any], current_schedule: str | None = None
                  ) -> dict[str, Any]:
    """`fields` with ``calendar`` and ``on_holiday`` written into the schedule.

    They are stored as the schedule's suffix (``… calendar kr on_holiday
    next_business_day``, jobu.calendars); ``calendar=""`` removes it.
    """
    if "calendar" not in fields and "on_holiday" not in fields:
        return fields
    fields = dict(fields)
    calendar = fields.pop("calendar", None)
    on_holiday = fields.pop("on_holiday", None)
    schedule = fields.get("schedule", current_schedule)
    if not isinstance(schedule, str):
        raise InvalidInputError("calendar and on_holiday need a schedule")
    if calendar == "":
        schedule, calendar = split_schedule(schedule)[0], None
    elif calendar is not None:
        check_text(calendar, "calendar")
    fields["schedule"] = compose_schedule(schedule, calendar, on_holiday)
    return fields


def spec_of(name: str, rules: CronRules, **fields: Any) -> CronSpec:
    """A CronSpec from fields, in the rules' time zone unless one is given.

    ``calendar`` and ``on_holiday`` may be given too (see with_calendar).
    """
    fields = with_calendar(fields)
    unknown = sorted(set(fields) - set(CRON_SPEC_FIELDS))
    if unknown:
        raise InvalidInputError(f"unknown cron option {', '.join(unknown)}; the options are "
                                f"{', '.join(f for f in CRON_SPEC_FIELDS if f != 'name')}")
    if fields.get("timezone") is None:
        fields["timezone"] = rules.default_timezone
    _check_field_types(fields)
    return CronSpec(name=name, **fields)


#: The CronSpec fields of each type, for callers (Python) whose values argparse did not type.
_WHOLE_NUMBERS = ("misfire_grace_seconds", "catch_up_max_runs", "jitter_seconds", "max_retry",
                  "priority")
_NUMBERS = ("retry_backoff_seconds",)
_FLAGS = ("is_enabled", "allow_overlap")
_TEXTS = ("name", "schedule", "handler_name", "description", "timezone", "queue")
_CHOICES = {"catch_up": CatchUp, "dst_repeat": DstRepeat, "isolation": Isolation}


def _check_field_types(fields: dict[str, Any]) -> None:
    """Refuse values of the wrong type; turn choices given as text into their enums."""
    for name, value in fields.items():
        if name in _WHOLE_NUMBERS:
            check_whole_number(value, name)
        elif name in _NUMBERS:
            check_number(value, name)
        elif name == "timeout_seconds":
            check_number(value, name, optional=True)
        elif name in _FLAGS:
            check_flag(value, name)
        elif name in _TEXTS:
            check_text(value, name)
        elif name in _CHOICES:
            fields[name] = choice(_CHOICES[name], value, name)


def add_cron(store: Store, spec: CronSpec, rules: CronRules, clock: Clock, *,
             force: bool = False, strict: bool = False) -> CronJob:
    """Store a new cron; AlreadyExistsError if its name is taken."""
    return store.cron_create(check_cron(store, spec, rules, clock.now(), force=force,
                                        strict=strict))


def edit_cron(store: Store, name: str, changes: Mapping[str, Any], rules: CronRules,
              clock: Clock, *, force: bool = False, strict: bool = False) -> CronJob:
    """Change the given fields of a cron (a `name` renames it), after checking the result."""
    current = store.cron_get(name)
    check_not_managed(store, current.name)
    if not changes:
        raise InvalidInputError("nothing to change: give at least one option (see --help)")
    changes = with_calendar(dict(changes), current.schedule)
    merged = _merged(current, changes)
    check_cron(store, merged, rules, clock.now(), handler_changed="handler_name" in changes,
               force=force, strict=strict)
    return store.cron_update(current.name, **changes)


def declare_cron(store: Store, spec: CronSpec, rules: CronRules, clock: Clock, *,
                 replace_existing: bool, keep_enabled: bool = True, force: bool = False,
                 strict: bool = False, managed_by: str | None = None) -> CronJob:
    """Add a cron, or with `replace_existing` make the stored one match `spec`.

    What application start-up code calls on every boot: a cron already stored as
    declared is left alone (its version, last tick and history untouched); one that
    differs is updated in place, so its history stays with it. With `keep_enabled`
    a replaced cron stays paused or running as an operator left it. Safe when two
    processes declare the same cron at once: one creates it, the other updates it.

    A cron that a crons file manages is refused (CronManagedByFileError) unless the
    caller is that file being applied (`managed_by`, jobu.operations.cron_files).
    """
    if not replace_existing:
        return add_cron(store, spec, rules, clock, force=force, strict=strict)
    try:
        existing = store.cron_get(spec.name)
    except CronNotFoundError:
        try:
            return add_cron(store, spec, rules, clock, force=force, strict=strict)
        except AlreadyExistsError:
            existing = store.cron_get(spec.name)  # another process was first
    if keep_enabled:
        spec = dataclasses.replace(spec, is_enabled=existing.is_enabled)
    if existing.spec == spec:
        return existing
    changes = {field: value for field, value in spec.__dict__.items()
               if getattr(existing, field) != value}
    if managed_by is None:
        check_not_managed(store, existing.name)
    check_cron(store, spec, rules, clock.now(),
               handler_changed="handler_name" in changes, force=force, strict=strict)
    return store.cron_update(existing.name, **changes)


def set_cron_enabled(store: Store, name: str, enabled: bool) -> CronJob:
    """Enable (resume) or disable (pause) a cron; doing it twice is not an error."""
    return store.cron_set_enabled(name, enabled)


def remove_cron(store: Store, name: str) -> None:
    """Remove a cron; its executions stay in the history. A cron that a crons file
    manages is refused: it is removed from its file."""
    check_not_managed(store, name)
    store.cron_delete(name)


def run_cron_now(store: Store, name: str, clock: Clock) -> tuple[CronJob, int]:
    """Enqueue one execution of a cron now, with its settings; the cron and the new id.

    Its scheduled time is `clock`'s now, to the microsecond: a cron's executions are
    unique by scheduled time, and the database's clock (SQLite's has milliseconds)
    would make two runs asked for in the same millisecond one.
    """
    cron = store.cron_get(name)
    execution_id = store.execution_insert(cron_execution(cron, clock.now(),
                                                         source=ParamSource.MANUAL))
    if execution_id is None:
        raise InvalidStateError(f"cron {cron.name} already has an execution scheduled at "
                                "this instant; run it now again")
    return cron, execution_id


def get_cron(store: Store, name: str) -> CronJob:
    """The cron called `name`; CronNotFoundError if there is none."""
    return store.cron_get(name)


def list_crons(store: Store, *, enabled_only: bool = False) -> list[CronJob]:
    return store.cron_list(enabled_only=enabled_only)


def cron_schedule(cron: CronSpec, calendar: Calendar | None = None) -> Schedule:
    """The cron's schedule. A schedule that names a calendar follows `calendar`; without
    it, its weekends only (say which days are holidays with cron_ticks)."""
    return parse_calendar_schedule(cron.schedule, cron.timezone, cron.dst_repeat, calendar)


def next_fire_time(cron: CronSpec, now: datetime,
                   calendar: Calendar | None = None) -> datetime | None:
    """The cron's next tick after `now` (UTC); None if it fires no more."""
    return cron_schedule(cron, calendar).next_after(now)


def planned_fire_time(cron: CronJob, now: datetime) -> datetime | None:
    """When an enabled cron fires next: the tick the dispatcher planned (next_tick_at, its
    business calendar included) while that is still ahead of `now`; else, for a cron not
    planned yet or whose tick is due, from its schedule (without its calendar). None for a
    disabled cron, or one that fires no more. No schedule is computed for a planned cron,
    so a list of them costs no more than reading them."""
    if not cron.is_enabled:
        return None
    if cron.next_tick_at is not None and cron.next_tick_at > now:
        return cron.next_tick_at
    return next_fire_time(cron, now)


def next_fire_times(cron: CronSpec, now: datetime, count: int,
                    count_name: str = "count", calendar: Calendar | None = None
                    ) -> list[datetime]:
    """Up to `count` ticks after `now` (UTC), at most MAX_NEXT_TIMES."""
    check_next_times_count(count, count_name)
    return cron_schedule(cron, calendar).next_times(now, count)


def cron_ticks(store: Store, cron: CronSpec, now: datetime, count: int,
               count_name: str = "count") -> list[Tick]:
    """The next `count` ticks of a cron with what its calendar does to them (run, moved
    to another day, skipped) and why, from the calendar as stored."""
    check_next_times_count(count, count_name)
    return explain(cron_schedule(cron, calendar_of(store, cron)), now, count)


def _merged(current: CronJob, changes: Mapping[str, Any]) -> CronSpec:
    unknown = sorted(set(changes) - set(CRON_SPEC_FIELDS))
    if unknown:
        raise InvalidInputError(f"cannot change cron {current.name!r}: no field "
                                f"{', '.join(unknown)}")
    return CronSpec(**{**current.spec.__dict__, **changes})
