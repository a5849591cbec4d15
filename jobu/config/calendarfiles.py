"""calendars.yaml and calendars.d/*.yaml: the business calendars an operator declares in files.

Like crons.yaml (jobu.config.cronfiles), each file holds one mapping, ``calendars:``, of calendar
names to their settings::

    calendars:
      kr:
        description: Korean public holidays and the company's closing days
        timezone: Asia/Seoul
        weekend: sat,sun
        days:
          - {date: 2026-09-24, name: Chuseok}
          - {date: 2026-12-31, name: Year-end closing}
        country: KR            # with years: a country's public holidays, as
        years: 2026-2030       # `jobu calendar add --country KR --years 2026-2030` adds them

The keys are those of `jobu calendar add` (see etc/jobu/calendars.yaml). This module is
pure: it turns the documents jobu.config has read into DeclaredCalendars, or into problems
that name the file, the key and its line; the dispatcher then applies them, before the
cron files (jobu.operations.calendar_files), since a cron may name a calendar of a file.
A country's holidays are generated when the file is applied, by the code `jobu calendar
add --country` runs (jobu.operations.calendars.country_holidays).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from marshmallow import ValidationError

from jobu.calendars import DEFAULT_WEEKEND, Calendar, parse_weekend, parse_years
from jobu.config.fields import ListField, MappingField, SectionField, TextField, TypedField
from jobu.config.problems import validate
from jobu.config.schemas import StrictSchema
from jobu.config.validators import iana_timezone, matches
from jobu.errors import InvalidInputError
from jobu.model import NAME_PATTERN

__all__ = ["CALENDARS_DIRECTORY", "CALENDARS_FILE", "CalendarFiles", "DeclaredCalendar",
           "declared_calendars"]

#: The file of calendars in the configuration directory, and the directory of more such files.
CALENDARS_FILE = "calendars.yaml"
CALENDARS_DIRECTORY = "calendars.d"
#: The longest calendar name the calendars table holds.
MAX_CALENDAR_NAME = 100


@dataclass(frozen=True)
class DeclaredCalendar:
    """One calendar of a file, as the file says it."""

    #: Its name, weekend, zone, description and the days the file lists (not the country's).
    calendar: Calendar
    #: The file that declares it (its absolute path): the calendar is managed by it.
    source: str
    #: With `years`: the country (ISO 3166 code) whose public holidays are added to `days`,
    #: and optionally its subdivision (a state or province).
    country: str | None = None
    subdivision: str | None = None
    years: str | None = None


@dataclass(frozen=True)
class CalendarFiles:
    """Every calendar the files declare, and which files were read (none: no calendars.yaml)."""

    paths: tuple[str, ...] = ()
    calendars: tuple[DeclaredCalendar, ...] = ()


def calendar_name(value: str) -> None:
    if not NAME_PATTERN.fullmatch(value) or len(value) > MAX_CALENDAR_NAME:
        raise ValidationError(f"expected 1-{MAX_CALENDAR_NAME} letters, digits and . _ : - "
                              f"(starting with a letter or digit), got {value!r}")


class DayField(TypedField):
    """A date, written YYYY-MM-DD (YAML reads an unquoted one as a date already)."""

    expected = "a date (YYYY-MM-DD)"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str | date) and not isinstance(value, datetime)

    def convert(self, value: str | date) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(f"expected {self.expected}, got {value!r}") from None


class WeekendField(TypedField):
    """The weekly non-working days: ``sat,sun``, ``[fri, sat]``, ``[6, 7]`` or ``none``."""

    expected = "week days such as 'sat,sun', [fri, sat] or 'none'"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str | list)

    def convert(self, value: str | list[Any]) -> frozenset[int]:
        try:
            return parse_weekend(value)
        except InvalidInputError as error:
            raise ValidationError(str(error)) from None


class YearsField(TypedField):
    """A year (2026) or a range of them (2026-2030), as `jobu calendar add --years`."""

    expected = "a year or a range of years, e.g. 2026-2030"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))

    def convert(self, value: str | int) -> str:
        try:
            parse_years(value)
        except InvalidInputError as error:
            raise ValidationError(str(error)) from None
        return str(value).strip()


class DaySchema(StrictSchema):
    """One holiday under `days:`; without a name it is called "holiday", as on the CLI."""

    date = DayField(required=True)
    name = TextField()


class CalendarEntrySchema(StrictSchema):
    """One calendar under `calendars:`. Absent keys take `jobu calendar add`'s defaults."""

    description = TextField()
    timezone = TextField(validate=iana_timezone)
    weekend = WeekendField()
    days = ListField(SectionField(DaySchema))
    country = TextField(validate=matches(r"[A-Za-z]{2,3}", "an ISO 3166 country code, e.g. KR"))
    subdivision = TextField()
    years = YearsField()


class CalendarFileSchema(StrictSchema):
    """calendars.yaml, or one file of calendars.d."""

    calendars = MappingField(keys=TextField(validate=calendar_name),
                             values=SectionField(CalendarEntrySchema), load_default=dict)


def declared_calendars(source: str, document: Mapping[Any, Any]
                       ) -> tuple[list[DeclaredCalendar], list[tuple[str, str]]]:
    """The calendars of one file, and ``(key path, message)`` per problem found in it.

    A date listed twice in one calendar is a problem (which name would it have?); so are
    `years` or `subdivision` without `country`, and `country` without `years`, which
    `jobu calendar add` refuses too.
    """
    values, problems = validate(CalendarFileSchema(), document)
    calendars = []
    for name, entry in values.get("calendars", {}).items():
        wrong = len(problems)
        holidays: dict[date, str] = {}
        for index, day in enumerate(entry.get("days", ())):
            if day["date"] in holidays:
                problems.append((f"calendars.{name}.days[{index}].date",
                                 f"{day['date'].isoformat()} is listed twice; list each "
                                 "day once"))
            holidays[day["date"]] = day.get("name", "holiday").strip()[:200]
        if "country" in entry and "years" not in entry:
            problems.append((f"calendars.{name}.country",
                             "needs years, e.g. years: 2026-2030"))
        for key in ("years", "subdivision"):
            if key in entry and "country" not in entry:
                problems.append((f"calendars.{name}.{key}", "goes with country"))
        if len(problems) > wrong:
            continue
        calendar = Calendar(name=name, holidays=holidays,
                            weekend=entry.get("weekend", DEFAULT_WEEKEND),
                            timezone=entry.get("timezone"),
                            description=entry.get("description", ""))
        calendars.append(DeclaredCalendar(
            calendar, source, country=entry.get("country", "").upper() or None,
            subdivision=entry.get("subdivision"), years=entry.get("years")))
    return calendars, problems
