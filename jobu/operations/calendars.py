"""Business calendars: add (or replace), import days, list, show, remove.

Called by `jobu calendar …` and the Client alike, so that both refuse a bad value
with the same sentence. A calendar that calendars.yaml (or calendars.d) declares is owned
by that file: changing or removing it here is refused (CalendarManagedByFileError), except
by the file being applied (jobu.operations.calendar_files). Days come from a list, an
iCalendar file (all-day VEVENTs), a YAML or CSV list of ``date, name``, or Python's
``holidays`` package for a country (``python3-holidays`` on Debian), which is imported
only when asked.
"""

from __future__ import annotations

import csv
import importlib
import io
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import yaml

from jobu.calendars import (
    DEFAULT_WEEKEND,
    Calendar,
    parse_day,
    parse_ics,
    parse_weekend,
    parse_years,
    split_schedule,
)
from jobu.errors import CalendarManagedByFileError, InvalidInputError, InvalidStateError
from jobu.schedule import validate_timezone
from jobu.store import Store
from jobu.validation import check_name

__all__ = ["add_calendar", "calendar_managed_by", "check_calendar_not_managed",
           "country_holidays", "import_days", "list_calendars", "parse_days_file",
           "remove_calendar", "save_calendar", "show_calendar"]

def save_calendar(store: Store, name: str, *, days: Mapping[date, str] | None = None,
                  weekend: str | Iterable[str | int] | None = None,
                  timezone: str | None = None, description: str | None = None,
                  replace_days: bool = True, managed_by: str | None = None) -> Calendar:
    """Create the calendar `name`, or change it: the fields given replace the stored ones.

    `days` replace the stored days (or, with ``replace_days=False``, are added to them,
    a day given again taking the new name). A calendar that a calendars file manages is
    refused (CalendarManagedByFileError) unless the caller is that file being applied
    (`managed_by`).
    """
    check_name(name, "calendar name")
    if len(name) > 100:
        raise InvalidInputError(f"calendar name {name!r} is longer than 100 characters")
    if managed_by is None:
        check_calendar_not_managed(store, name)
    current = _existing(store, name)
    holidays = dict(current.holidays) if current and not replace_days else {}
    if days is None and current is not None:
        holidays = dict(current.holidays)
    for day, title in (days or {}).items():
        if not isinstance(day, date):
            raise InvalidInputError(f"calendar {name}: {day!r} is not a date")
        holidays[day] = str(title).strip()[:200] or "holiday"
    if timezone:
        validate_timezone(timezone)
    calendar = Calendar(
        name=name, holidays=holidays,
        weekend=(parse_weekend(weekend) if weekend is not None
                 else current.weekend if current else DEFAULT_WEEKEND),
        timezone=(timezone or None) if timezone is not None
        else (current.timezone if current else None),
        description=description if description is not None
        else (current.description if current else ""))
    return store.calendar_save(calendar)


def add_calendar(store: Store, name: str, *, days: Mapping[date | str, str] | None = None,
                 weekend: str | Iterable[str | int] | None = None,
                 timezone: str | None = None, description: str | None = None,
                 country: str | None = None, years: str | int | None = None,
                 subdivision: str | None = None, replace_days: bool = False) -> Calendar:
    """`jobu calendar add` and Client.add_calendar: save_calendar, with a country's public
    holidays for `years` (country_holidays) under the `days` given, which win.

    `days` are dates or YYYY-MM-DD texts; they are added to the stored ones, or replace
    them with `replace_days`. A calendar that a file manages is refused before the
    holidays package is asked.
    """
    check_calendar_not_managed(store, name)
    given = {day if isinstance(day, date) else parse_day(str(day), f"calendar {name}"): title
             for day, title in (days or {}).items()}
    if country:
        if not years:
            raise InvalidInputError("country needs years, e.g. 2026-2030 (--years)")
        given = {**country_holidays(country, str(years), subdivision), **given}
    elif years or subdivision:
        raise InvalidInputError("years and subdivision go with a country (--country)")
    return save_calendar(store, name, days=given if given or replace_days else None,
                         weekend=weekend, timezone=timezone, description=description,
                         replace_days=replace_days)


def import_days(store: Store, name: str, text: str, file_name: str, *,
                replace_days: bool = False) -> Calendar:
    """Add the days of a file (.ics, .yaml/.yml, .csv) to calendar `name`, creating it."""
    return save_calendar(store, name, days=parse_days_file(text, file_name),
                         replace_days=replace_days)


def parse_days_file(text: str, file_name: str) -> dict[date, str]:
    """The days of an iCalendar, YAML or CSV file, by its extension.

    YAML: a mapping ``2026-01-01: New Year`` or a list of ``{date: …, name: …}``.
    CSV: rows ``date,name`` (a header row ``date,name`` is skipped).
    """
    lowered = file_name.lower()
    if lowered.endswith(".ics"):
        return parse_ics(text)
    if lowered.endswith((".yaml", ".yml")):
        return _yaml_days(text, file_name)
    if lowered.endswith(".csv"):
        return _csv_days(text, file_name)
    raise InvalidInputError(f"{file_name}: import an .ics, .yaml, .yml or .csv file")


def country_holidays(country: str, years: str, subdivision: str | None = None
                     ) -> dict[date, str]:
    """A country's public holidays for a range of years (``2026-2030`` or ``2026``), from
    Python's ``holidays`` package."""
    try:
        span = parse_years(years)
    except InvalidInputError as error:
        raise InvalidInputError(f"years (--years) {error}") from None
    try:
        holidays = importlib.import_module("holidays")
    except ImportError:
        raise InvalidInputError(
            "a country's holidays need Python's holidays package, which is not installed: "
            "apt install python3-holidays (or pip install holidays), or import the days "
            "from a file with `jobu calendar import`") from None
    try:
        found = holidays.country_holidays(country.upper(), subdiv=subdivision, years=list(span))
    except (NotImplementedError, KeyError) as error:
        raise InvalidInputError(f"the holidays package does not know country {country!r} "
                                f"({error}); use an ISO 3166 code such as KR, DE, US") from None
    return {day: str(title) for day, title in sorted(found.items())}


def list_calendars(store: Store) -> list[dict[str, Any]]:
    return store.calendar_list()


def show_calendar(store: Store, name: str) -> Calendar:
    return store.calendar_get(name)


def calendar_managed_by(store: Store, name: str) -> str | None:
    """The calendars file that manages calendar `name`, or None."""
    return store.calendar_managed_by(name)


def check_calendar_not_managed(store: Store, name: str) -> None:
    """Refuse to change or remove a calendar that a calendars file declares: the file owns
    it, and the dispatcher would put it back as the file says at its next reload."""
    source = store.calendar_managed_by(name)
    if source is not None:
        raise CalendarManagedByFileError(name, source)


def crons_naming(store: Store, name: str) -> list[str]:
    """The crons whose schedule names calendar `name`, enabled or not, by name."""
    return sorted(cron.name for cron in store.cron_list()
                  if split_schedule(cron.schedule)[1] == name)


def remove_calendar(store: Store, name: str, *, managed_by: str | None = None) -> None:
    """Remove a calendar no cron names; InvalidStateError names the crons that do. A
    calendar that a calendars file manages is refused unless `managed_by` is that file."""
    if managed_by is None:
        check_calendar_not_managed(store, name)
    users = crons_naming(store, name)
    if users:
        raise InvalidStateError(f"calendar {name} is used by cron {', '.join(users)}; remove "
                                "or change those crons first (jobu cron edit NAME "
                                "--calendar '')")
    store.calendar_delete(name)


def _existing(store: Store, name: str) -> Calendar | None:
    return store.calendar_get(name) if name in store.calendar_versions() else None


def _yaml_days(text: str, file_name: str) -> dict[date, str]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidInputError(f"{file_name} is not valid YAML: {error}") from None
    if isinstance(loaded, Mapping):
        return {_day(key, file_name): str(value) for key, value in loaded.items()}
    if isinstance(loaded, list):
        days = {}
        for number, item in enumerate(loaded, start=1):
            if not isinstance(item, Mapping) or "date" not in item:
                raise InvalidInputError(f"{file_name}: item {number} needs a date "
                                        "(- {date: 2026-01-01, name: New Year})")
            days[_day(item["date"], f"{file_name} item {number}")] = str(
                item.get("name") or "holiday")
        return days
    raise InvalidInputError(f"{file_name}: write a mapping of dates to names "
                            "(2026-01-01: New Year) or a list of {date, name}")


def _csv_days(text: str, file_name: str) -> dict[date, str]:
    days = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not row[0].strip() or row[0].strip().startswith("#"):
            continue
        if number == 1 and row[0].strip().lower() == "date":
            continue
        days[parse_day(row[0], f"{file_name} line {number}")] = (
            row[1].strip() if len(row) > 1 and row[1].strip() else "holiday")
    return days


def _day(value: Any, where: str) -> date:
    return value if isinstance(value, date) else parse_day(str(value), where)
