"""Applying calendars.yaml and calendars.d/*.yaml to the database: what the dispatcher does at
start and on SIGHUP, before it applies the cron files (a cron may name a calendar of a file).

* A calendar of the files that the database lacks is added.
* One that differs (its days, weekend, zone or description) is saved as the file says, which
  bumps its version and plans again at once every cron that names it (Store.calendar_save);
  one stored as declared is left alone, not even its version changes.
* One that left the files is removed when no cron names it: a calendar has no history to
  keep, and the file was the only place it was written. While crons still name it, it is
  kept, no file manages it any more, and the log names those crons: removing it would stop
  them (a cron naming a missing calendar is not dispatched).

Every calendar of the files is marked as managed by its file, which `jobu calendar add`,
`import` and `remove` (and the Client) then refuse to change. A country's public holidays
(``country`` and ``years``) come from jobu.operations.calendars.country_holidays, the code
of `jobu calendar add --country`; the days the file lists win over the country's.
Applying is idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from jobu.calendars import Calendar, weekend_text
from jobu.config.calendarfiles import CalendarFiles, DeclaredCalendar
from jobu.errors import InvalidInputError, NotFoundError
from jobu.operations.calendars import (
    country_holidays,
    crons_naming,
    remove_calendar,
    save_calendar,
)
from jobu.store import Store

log = logging.getLogger("jobu.calendar_files")


@dataclass
class CalendarFilesApplied:
    """What applying the files did, by calendar name."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: Calendars that left the files but are kept, with the crons that still name them.
    kept: dict[str, list[str]] = field(default_factory=dict)
    #: Calendars the files declare that could not be stored (a country the holidays
    #: package does not know, or the package missing), with the reason.
    refused: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """"1 added, 1 updated, 3 unchanged, 0 removed, 1 kept, 0 refused"."""
        return (f"{len(self.added)} added, {len(self.updated)} updated, "
                f"{len(self.unchanged)} unchanged, {len(self.removed)} removed, "
                f"{len(self.kept)} kept, {len(self.refused)} refused")


def apply_calendar_files(store: Store, files: CalendarFiles) -> CalendarFilesApplied:
    """Make the database's calendars match the files (see the module's docstring)."""
    applied = CalendarFilesApplied()
    managed = store.calendar_managed()
    for declared in files.calendars:
        _apply_one(store, declared, managed.get(declared.calendar.name), applied)
    declared_names = {declared.calendar.name for declared in files.calendars}
    for name, source in managed.items():
        if name not in declared_names:
            _release(store, name, source, applied)
    return applied


def _apply_one(store: Store, declared: DeclaredCalendar, managed_by: str | None,
               applied: CalendarFilesApplied) -> None:
    name, source = declared.calendar.name, declared.source
    before = store.calendar_get(name) if name in store.calendar_versions() else None
    try:
        wanted = _wanted(declared)
    except InvalidInputError as error:
        applied.refused[name] = str(error)
        log.warning("%s: calendar %s not applied: %s", source, name, error,
                    extra={"calendar": name})
        if before is not None and managed_by != source:
            store.calendar_set_managed_by(name, source)
        return
    if before is None or _differences(before, wanted):
        save_calendar(store, name, days=wanted.holidays, weekend=wanted.weekend,
                      timezone=wanted.timezone or "", description=wanted.description,
                      replace_days=True, managed_by=source)
    if managed_by != source:
        store.calendar_set_managed_by(name, source)
    if before is None:
        applied.added.append(name)
        log.info("%s: added calendar %s: %d holidays, weekend %s", source, name,
                 len(wanted.holidays), weekend_text(wanted.weekend), extra={"calendar": name})
    elif changed := _differences(before, wanted):
        applied.updated.append(name)
        log.info("%s: updated calendar %s (%s); the crons naming it are planned again",
                 source, name, ", ".join(changed), extra={"calendar": name})
    else:
        applied.unchanged.append(name)
        if managed_by is None:
            log.info("%s: now manages calendar %s", source, name, extra={"calendar": name})


def _wanted(declared: DeclaredCalendar) -> Calendar:
    """The calendar as the file says it, its country's holidays added, each name as
    save_calendar stores it (so that an unchanged calendar compares equal)."""
    holidays: dict[date, str] = {}
    if declared.country is not None and declared.years is not None:
        holidays.update(country_holidays(declared.country, declared.years,
                                         declared.subdivision))
    holidays.update(declared.calendar.holidays)
    stored_names = {day: str(title).strip()[:200] or "holiday"
                    for day, title in holidays.items()}
    return Calendar(name=declared.calendar.name, holidays=stored_names,
                    weekend=declared.calendar.weekend, timezone=declared.calendar.timezone,
                    description=declared.calendar.description)


def _differences(before: Calendar, wanted: Calendar) -> list[str]:
    """The fields (days, weekend, timezone, description) in which `before` is not `wanted`."""
    return [name for name, old, new in (
        ("days", dict(before.holidays), dict(wanted.holidays)),
        ("weekend", before.weekend, wanted.weekend),
        ("timezone", before.timezone, wanted.timezone),
        ("description", before.description, wanted.description)) if old != new]


def _release(store: Store, name: str, source: str, applied: CalendarFilesApplied) -> None:
    """A calendar that left the files: removed, unless crons still name it (then kept, and
    managed by no file, so that an operator can remove it once they no longer do)."""
    users = crons_naming(store, name)
    if users:
        store.calendar_set_managed_by(name, None)
        applied.kept[name] = users
        log.warning("%s: calendar %s left the calendar files but is kept: cron %s still "
                    "names it; change those crons, then `jobu calendar remove %s`", source,
                    name, ", ".join(users), name, extra={"calendar": name})
        return
    try:
        remove_calendar(store, name, managed_by=source)
    except NotFoundError:
        return  # removed meanwhile, by another dispatcher applying the same files
    applied.removed.append(name)
    log.info("%s: calendar %s left the calendar files: removed", source, name,
             extra={"calendar": name})
