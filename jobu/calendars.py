"""Business calendars, and the schedules that follow them. Pure: no I/O, no clock.

Calendars
---------

A :class:`Calendar` is a named set of non-working days: the dates of its holidays,
each with a name ("Chuseok"), and a weekly pattern of non-working days (``weekend``,
ISO week days 1-7, Saturday and Sunday unless told otherwise). A day is a business
day when it is neither. The day a tick falls on is its date on the wall clock of the
calendar's ``timezone``, or of the cron's zone when the calendar names none.

Schedules that name a calendar
------------------------------

A cron's schedule may end with ``calendar NAME``, and then ``on_holiday RULE``
(the CLI's ``--calendar``/``--on-holiday``, the Client's and crons.yaml's
``calendar``/``on_holiday`` write this suffix)::

    0 18 * * 1-5 calendar kr                        (on_holiday skip, the default)
    0 9 5 * * calendar de on_holiday next_business_day
    bd -1 18:00 calendar kr

What a tick on a non-working day does (``on_holiday``):

* ``skip``: it does not run. The dispatcher records it SKIPPED, the reason naming
  the day ("2026-09-25 is a holiday in calendar kr: Chuseok");
* ``next_business_day``: it runs at the same wall time on the next business day;
* ``previous_business_day``: it runs at the same wall time on the business day before.

A moved tick that lands on an instant the cron fires at anyway fires once (an
hourly cron moved off a holiday joins the next day's hours). A calendar with no
business day within :data:`MAX_NON_WORKING_RUN` days of a tick skips it, saying so.

Business-day expressions
------------------------

``bd N HH:MM[:SS]`` fires on the N-th business day of every month at that wall
time in the cron's zone: ``bd 1 09:00`` the first, ``bd 5 09:00`` the fifth,
``bd -1 18:00`` the last, ``bd -2 18:00`` the one before it (N from 1 to 23 or -1
to -23). Without ``calendar NAME`` the business days are Monday to Friday. A month
with fewer than |N| business days has no fire. Its ticks are business days by
construction, so ``on_holiday`` does not apply. Daylight saving applies as to a
fixed-time cron (jobu.schedule).
"""

from __future__ import annotations

import calendar as gregorian
import enum
import heapq
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from jobu.errors import InvalidInputError, ScheduleError
from jobu.model import DstRepeat
from jobu.schedule import (
    Schedule,
    _as_utc,
    _instants_of_wall_time,
    parse_schedule,
    validate_timezone,
)

__all__ = [
    "Calendar",
    "CalendarSchedule",
    "OnHoliday",
    "Tick",
    "check_on_holiday_applies",
    "compose_schedule",
    "parse_calendar_schedule",
    "parse_ics",
    "parse_weekend",
    "parse_years",
    "split_schedule",
    "validate_calendar_schedule",
]

#: The longest run of consecutive non-working days a tick is moved across.
MAX_NON_WORKING_RUN = 31
#: The most years a country's public holidays are generated for at once.
MAX_COUNTRY_YEARS = 100
#: Saturday and Sunday (ISO week days).
DEFAULT_WEEKEND = frozenset({6, 7})
_DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class OnHoliday(str, enum.Enum):
    """What a tick that falls on a non-working day of the cron's calendar does."""

    SKIP = "skip"
    NEXT = "next_business_day"
    PREVIOUS = "previous_business_day"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Calendar:
    """Non-working days: named holidays and a weekly pattern (ISO week days 1-7)."""

    name: str
    holidays: Mapping[date, str] = field(default_factory=dict)
    weekend: frozenset[int] = DEFAULT_WEEKEND
    #: The zone whose dates the days are; None: the zone of the cron using it.
    timezone: str | None = None
    description: str = ""
    #: Bumped on every change, so that a dispatcher knows to read it again.
    version: int = 1

    def __hash__(self) -> int:
        # The days are a dict; equal calendars have equal names, versions and day counts.
        return hash((self.name, self.version, len(self.holidays), self.weekend))

    def why_not_working(self, day: date) -> str | None:
        """Why `day` is not a business day ("a holiday: Chuseok"), or None if it is one."""
        if day in self.holidays:
            return f"{day.isoformat()} is a holiday in calendar {self.name}: {self.holidays[day]}"
        if day.isoweekday() in self.weekend:
            return (f"{day.isoformat()} is a {day.strftime('%A')}, not a working day in "
                    f"calendar {self.name}")
        return None

    def is_business_day(self, day: date) -> bool:
        return day not in self.holidays and day.isoweekday() not in self.weekend

    def next_business_day(self, day: date) -> date | None:
        """The first business day after `day`, within MAX_NON_WORKING_RUN days."""
        return self._step(day, 1)

    def previous_business_day(self, day: date) -> date | None:
        """The last business day before `day`, within MAX_NON_WORKING_RUN days."""
        return self._step(day, -1)

    def business_days(self, year: int, month: int) -> list[date]:
        """The business days of a month, in order."""
        days = gregorian.monthrange(year, month)[1]
        return [d for d in (date(year, month, n) for n in range(1, days + 1))
                if self.is_business_day(d)]

    def _step(self, day: date, direction: int) -> date | None:
        for count in range(1, MAX_NON_WORKING_RUN + 1):
            try:
                candidate = day + timedelta(days=direction * count)
            except OverflowError:
                return None
            if self.is_business_day(candidate):
                return candidate
        return None


#: Business days Monday to Friday, no holidays: the calendar of a bare ``bd`` expression.
WEEKDAYS = Calendar("weekdays")


def parse_weekend(text: str | Iterable[str | int]) -> frozenset[int]:
    """Week days from ``sat,sun``, ``fri,sat``, ``6,7`` or ``none`` (ISO numbers 1-7)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    days: set[int] = set()
    for item in items:
        token = str(item).strip().lower()
        if token in ("", "none"):
            continue
        if token[:3] in _DAY_NAMES:
            days.add(_DAY_NAMES.index(token[:3]) + 1)
        elif token.isdigit() and 1 <= int(token) <= 7:
            days.add(int(token))
        else:
            raise InvalidInputError(f"weekend day {item!r} is not valid: write days such as "
                                    "'sat,sun' or 'fri,sat' (or ISO numbers 1-7, or 'none')")
    return frozenset(days)


def parse_years(text: str | int) -> range:
    """The years of ``2026-2030`` or ``2026``, 1 to MAX_COUNTRY_YEARS of them, first not
    after last: the span a country's public holidays are generated for."""
    first, _, last = str(text).strip().partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        raise InvalidInputError(f"{str(text)!r}: write a year or a range, e.g. 2026-2030")
    span = range(int(first), int(last or first) + 1)
    if not 0 < len(span) <= MAX_COUNTRY_YEARS:
        raise InvalidInputError(f"{str(text)!r}: give 1 to {MAX_COUNTRY_YEARS} years, the "
                                "first not after the last")
    return span


def weekend_text(days: frozenset[int]) -> str:
    """``sat,sun``; ``none`` for no weekly non-working day."""
    return ",".join(_DAY_NAMES[d - 1] for d in sorted(days)) or "none"


# --- the schedule suffix ----------------------------------------------------------------

_SUFFIX = re.compile(r"\s+calendar\s+(?P<name>\S+)(?:\s+on_holiday\s+(?P<rule>\S+))?\s*$",
                     re.IGNORECASE)
_BUSINESS_DAY = re.compile(
    r"bd\s+(?P<n>[+-]?\d+)\s+(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?", re.IGNORECASE)


def split_schedule(text: str) -> tuple[str, str | None, OnHoliday]:
    """(the expression, the calendar's name or None, the on_holiday rule) of a schedule."""
    match = _SUFFIX.search(text)
    if match is None:
        if re.search(r"\bon_holiday\b", text, re.IGNORECASE):
            raise ScheduleError(f"'{text}' has on_holiday but no calendar; write e.g. "
                                "'0 9 * * * calendar kr on_holiday next_business_day'")
        return text.strip(), None, OnHoliday.SKIP
    return text[:match.start()].strip(), match["name"], _on_holiday(match["rule"] or "skip")


def compose_schedule(expression: str, calendar: str | None,
                     on_holiday: OnHoliday | str | None = None) -> str:
    """The schedule text of an expression, a calendar and a rule (see split_schedule)."""
    base, named, rule = split_schedule(expression)
    if calendar is None:
        if on_holiday not in (None, OnHoliday.SKIP, "skip") and named is None:
            raise InvalidInputError("on_holiday needs a calendar: name one with calendar "
                                    "(--calendar)")
        calendar = named
        rule = _on_holiday(on_holiday) if on_holiday is not None else rule
    elif on_holiday is not None:
        rule = _on_holiday(on_holiday)
    if calendar is None:
        return base
    suffix = "" if rule is OnHoliday.SKIP else f" on_holiday {rule.value}"
    return f"{base} calendar {calendar}{suffix}"


def _on_holiday(value: OnHoliday | str) -> OnHoliday:
    try:
        return OnHoliday(value)
    except ValueError:
        choices = ", ".join(rule.value for rule in OnHoliday)
        raise ScheduleError(f"unknown on_holiday '{value}'; use {choices}") from None


def check_on_holiday_applies(text: str) -> None:
    """Refuse an on_holiday rule that would have no effect: a business-day expression
    only ever fires on a business day of its calendar, so nothing is ever moved.

    Checked where a cron is written (add, edit, the crons files), not where one is
    planned: a cron stored with such a rule before it was refused still runs, its rule
    ignored.
    """
    base, name, rule = split_schedule(text)
    if rule is not OnHoliday.SKIP and base.lower().startswith("bd"):
        raise ScheduleError(
            f"'{text}': on_holiday has no effect on a business-day expression, which only "
            f"ever fires on a business day of its calendar; write '{base} calendar {name}'")


def parse_calendar_schedule(text: str, timezone: str = "UTC",
                            dst_repeat: DstRepeat = DstRepeat.AUTO,
                            calendar: Calendar | None = None) -> Schedule:
    """Any schedule: jobu.schedule's kinds, ``bd`` expressions, a ``calendar`` suffix.

    `calendar` is the calendar the suffix names (its name must match); without a
    suffix it is ignored. Raises ScheduleError when the text is not valid.
    """
    base, name, rule = split_schedule(text)
    if name is not None and calendar is not None and calendar.name != name:
        raise ValueError(f"the schedule names calendar {name!r}, given {calendar.name!r}")
    if name is not None and calendar is None:
        calendar = Calendar(name)  # syntax only: the days are not known
    business = _BUSINESS_DAY.fullmatch(base)
    if business is not None or base.lower().startswith("bd"):
        return _business_day_schedule(text, base, business, timezone, calendar or WEEKDAYS)
    schedule = parse_schedule(base, timezone, dst_repeat)
    if calendar is None:
        return schedule
    if schedule.kind == "interval":
        raise ScheduleError(f"'{text}': an interval ('every …') cannot follow a calendar; "
                            "use a cron expression or a 'bd' expression")
    return CalendarSchedule(text, timezone, schedule, calendar, rule)


def validate_calendar_schedule(text: str, timezone: str, min_interval_seconds: float,
                               now: datetime, dst_repeat: DstRepeat = DstRepeat.AUTO,
                               calendar: Calendar | None = None) -> Schedule:
    """parse_calendar_schedule, refusing a schedule that fires more often than the minimum
    (as jobu.schedule.validate_schedule does)."""
    schedule = parse_calendar_schedule(text, timezone, dst_repeat, calendar)
    gap = schedule.min_interval_seconds(now)
    if gap is not None and gap < min_interval_seconds:
        raise ScheduleError(
            f"'{schedule.expression}' fires every {gap:g} s; the minimum is "
            f"{min_interval_seconds:g} s (min_cron_interval_seconds in dispatcher.yaml)")
    return schedule


def _business_day_schedule(text: str, base: str, match: re.Match | None, timezone: str,
                           calendar: Calendar) -> BusinessDaySchedule:
    example = "write e.g. 'bd 1 09:00' (first business day), 'bd -1 18:00' (last)"
    if match is None:
        raise ScheduleError(f"malformed business-day expression '{base}'; {example}")
    n = int(match["n"])
    hour, minute, second = int(match["h"]), int(match["m"]), int(match["s"] or 0)
    if n == 0 or abs(n) > 23:
        raise ScheduleError(f"business day {n} in '{base}' is not valid: count 1 to 23 from "
                            f"the start of the month or -1 to -23 from its end; {example}")
    if hour > 23 or minute > 59 or second > 59:
        raise ScheduleError(f"'{base}' has no such time of day; {example}")
    return BusinessDaySchedule(text, timezone, n, time(hour, minute, second), calendar,
                               validate_timezone(timezone))


# --- ticks that follow a calendar ----------------------------------------------------------

@dataclass(frozen=True, order=True)
class Tick:
    """One tick of a calendar schedule: where it fires, or why it does not."""

    #: When it fires (run or moved), or the tick itself (skipped).
    at: datetime
    #: The tick of the underlying expression.
    original: datetime = field(compare=False)
    #: "run", "moved" or "skipped".
    outcome: str = field(compare=False, default="run")
    reason: str | None = field(compare=False, default=None)


@dataclass(frozen=True)
class CalendarSchedule(Schedule):
    """A cron expression whose ticks on non-working days are skipped or moved.

    Its fire times (next_after, ticks_between, …) are every tick the dispatcher must
    record: the runs (moved ones at their new time) and the skipped ticks, which
    ``skip_reason`` tells apart.
    """

    kind: ClassVar[str] = "calendar"
    base: Schedule
    calendar: Calendar
    on_holiday: OnHoliday

    def skip_reason(self, tick: datetime) -> str | None:
        """Why `tick` (one of the fire times) does not run; None when it runs.

        A skipped tick stays at its own instant, on a non-working day, where no moved
        tick lands (they land on business days), so its own decision tells.
        """
        decided = self._decide(_as_utc(tick, "tick"))
        return decided.reason if decided.outcome == "skipped" else None

    def ticks(self, after: datetime) -> Iterator[Tick]:
        """The ticks that fire (or are skipped) strictly after `after`, ascending."""
        pending: list[Tick] = []
        last = _as_utc(after, "after")
        for original in self.base._fire_times(self._first_original(last)):
            heapq.heappush(pending, self._decide(original))
            horizon = self._earliest_landing(original)
            # No later original lands before `horizon`: what is pending before it is final.
            while pending and pending[0].at <= horizon:
                tick = heapq.heappop(pending)
                if tick.at > last:
                    yield tick
                    last = tick.at
        while pending:
            tick = heapq.heappop(pending)
            if tick.at > last:
                yield tick
                last = tick.at

    def _first_original(self, after: datetime) -> datetime:
        """Where the underlying ticks that may land after `after` begin.

        Moved forward, a tick of a non-working day lands after `after` only if no
        business day lies between them: it is on or after the last business day
        before `after`'s day (a day earlier, for the zones' sake).
        """
        if self.on_holiday is not OnHoliday.NEXT:
            return after
        zone = self._day_zone
        day = after.astimezone(zone).date()
        last_working = (self.calendar.previous_business_day(day)
                        or day - timedelta(days=MAX_NON_WORKING_RUN + 1))
        start = datetime.combine(last_working - timedelta(days=1), time(), zone)
        return min(after, start.astimezone(UTC))

    def _earliest_landing(self, original: datetime) -> datetime:
        """No underlying tick from `original` on lands before this instant."""
        if self.on_holiday is not OnHoliday.PREVIOUS:
            return original
        zone = self._day_zone
        day = original.astimezone(zone).date()
        if not self.calendar.is_business_day(day):
            day = (self.calendar.previous_business_day(day)
                   or day - timedelta(days=MAX_NON_WORKING_RUN + 1))
        return datetime.combine(day - timedelta(days=1), time(), zone).astimezone(UTC)

    @property
    def _day_zone(self) -> ZoneInfo:
        """The zone whose dates the calendar's days are."""
        return ZoneInfo(self.calendar.timezone or self.timezone)

    def _fire_times(self, after: datetime) -> Iterator[datetime]:
        return (tick.at for tick in self.ticks(after))

    def min_interval_seconds(self, after: datetime) -> float | None:
        """The expression's (a calendar only removes or moves whole days of ticks)."""
        return self.base.min_interval_seconds(after)

    def _decide(self, original: datetime) -> Tick:
        day = original.astimezone(self._day_zone).date()
        why = self.calendar.why_not_working(day)
        if why is None:
            return Tick(original, original)
        if self.on_holiday is OnHoliday.SKIP:
            return Tick(original, original, "skipped", why)
        target = (self.calendar.next_business_day(day) if self.on_holiday is OnHoliday.NEXT
                  else self.calendar.previous_business_day(day))
        if target is None:
            return Tick(original, original, "skipped",
                        f"{why}, and calendar {self.calendar.name} has no business day "
                        f"within {MAX_NON_WORKING_RUN} days")
        own = ZoneInfo(self.timezone)
        wall = original.astimezone(own).replace(tzinfo=None) + (target - day)
        moved = _instants_of_wall_time(wall, own, both=False)[0]
        return Tick(moved, original, "moved", f"{why}; moved to {target.isoformat()}")


@dataclass(frozen=True)
class BusinessDaySchedule(Schedule):
    """``bd N HH:MM``: the N-th business day of each month at a wall time."""

    kind: ClassVar[str] = "business_day"
    n: int
    at: time
    calendar: Calendar
    zone: ZoneInfo = field(repr=False, compare=False)

    def _fire_times(self, after: datetime) -> Iterator[datetime]:
        wall_after = after.astimezone(self.zone)
        # From the month before: its last days' wall times may come after `after` in UTC.
        year, month = ((wall_after.year - 1, 12) if wall_after.month == 1
                       else (wall_after.year, wall_after.month - 1))
        while year <= 9998:
            for instant in self._month(year, month):
                if instant > after:
                    yield instant
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    def _month(self, year: int, month: int) -> list[datetime]:
        days = self.calendar.business_days(year, month)
        if len(days) < abs(self.n):
            return []
        day = days[self.n - 1] if self.n > 0 else days[self.n]
        wall = datetime.combine(day, self.at)
        return [_instants_of_wall_time(wall, self.zone, both=False)[0]]

    def min_interval_seconds(self, after: datetime) -> float | None:
        """Once a month at most: never less than a day apart."""
        _as_utc(after, "after")
        return 86400.0

    def skip_reason(self, tick: datetime) -> str | None:
        return None


def explain(schedule: Schedule, after: datetime, n: int) -> list[Tick]:
    """The next `n` ticks of a schedule, with what a calendar did to them."""
    if isinstance(schedule, CalendarSchedule):
        found = []
        for tick in schedule.ticks(after):
            found.append(tick)
            if len(found) >= n:
                break
        return found
    return [Tick(at, at) for at in schedule.next_times(after, n)]


# --- importing days -----------------------------------------------------------------

def parse_ics(text: str) -> dict[date, str]:
    """The all-day events of an iCalendar file: ``DTSTART;VALUE=DATE:20260101`` and SUMMARY.

    Multi-day events (DTEND) cover each day up to, not including, DTEND. A
    VEVENT without an all-day DTSTART is refused, naming it: a holiday is a day.
    """
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]  # a folded line continues the one before
        else:
            lines.append(raw)
    days: dict[date, str] = {}
    event: dict[str, str] | None = None
    for number, line in enumerate(lines, start=1):
        name, _, value = line.partition(":")
        key = name.split(";")[0].upper()
        if line.strip().upper() == "BEGIN:VEVENT":
            event = {"line": str(number)}
        elif line.strip().upper() == "END:VEVENT" and event is not None:
            days.update(_event_days(event))
            event = None
        elif event is not None and key in ("DTSTART", "DTEND", "SUMMARY"):
            event[key] = value.strip()
    return days


def _event_days(event: dict[str, str]) -> dict[date, str]:
    summary = event.get("SUMMARY", "").replace("\\,", ",").replace("\\;", ";") or "holiday"
    start = _ics_date(event.get("DTSTART"), event["line"])
    end = _ics_date(event["DTEND"], event["line"]) if "DTEND" in event else start
    return {start + timedelta(days=k): summary for k in range(max(1, (end - start).days))}


def _ics_date(value: str | None, line: str) -> date:
    if value is None or not re.fullmatch(r"\d{8}", value):
        raise InvalidInputError(f"the event that begins on line {line} has no all-day "
                                f"DTSTART (DTSTART;VALUE=DATE:YYYYMMDD); got {value!r}")
    return date(int(value[:4]), int(value[4:6]), int(value[6:]))


def parse_day(text: str, where: str) -> date:
    """A date written YYYY-MM-DD; InvalidInputError names `where` otherwise."""
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{where}: {text!r} is not a date; write YYYY-MM-DD") from None


def wall_text(instant: datetime, timezone: str) -> str:
    """An instant on the wall clock of `timezone`, for operators."""
    local = instant.astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M %Z} ({instant.astimezone(UTC):%H:%M} UTC)"
