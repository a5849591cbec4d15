"""When a schedule fires: cron expressions, fixed intervals and one-shot times.

This module is pure: it never reads the clock. Every question takes the instant it
is asked about (``after``, ``start``/``end``, ``now``) as a timezone-aware datetime
and every answer is a timezone-aware datetime in UTC. A naive datetime is refused
with ``ValueError``: which zone it meant cannot be known.

Expressions
-----------

``parse_schedule(expression, timezone, dst_repeat)`` reads one of three kinds:

* **cron** — ``minute hour day-of-month month day-of-week`` (``0 3 * * *``), or six
  fields with SECONDS LAST (``m h dom mon dow s``; ``* * * * * */10`` fires every
  10 s). Each field is ``*``, a number, a range ``a-b``, a step ``*/n``, ``a-b/n`` or
  ``a/n`` (``a`` to the end of the field), or a comma list of those. Months and
  week days may be named (``jan``-``dec``, ``sun``-``sat``); day of week is 0-7 with
  both 0 and 7 meaning Sunday. A range whose end is before its start wraps around
  (``22-2`` in the hour field is 22,23,0,1,2; ``fri-mon`` is Fri,Sat,Sun,Mon).
  Day of month also takes ``L`` (the last day of the month); day of week also takes
  ``d#n`` (the n-th such day of the month, ``fri#2``) and ``Ld`` (the last such day,
  ``L5``). ``?`` is accepted as ``*`` in the two day fields. Macros: ``@hourly``,
  ``@daily``, ``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``, ``@annually``.
  When both day fields are restricted, a day matches if EITHER matches:
  ``0 0 1 * mon`` fires on the 1st and on every Monday. Only a lone ``*`` (or ``?``)
  leaves a day field unrestricted; unlike Vixie cron, and like croniter, ``*/2``
  restricts. A step that leaves only the first value of its range (``*/90`` in the
  minute field) is refused: for "every 90 minutes" write ``every 90m``.
* **interval** — ``every 90s``, ``every 5m``, ``every 2h``, ``every 1d``,
  ``every 1h30m``, ``every 5 minutes`` (units s/sec/second, m/min/minute,
  h/hr/hour, d/day, singular or plural). Fire times are the multiples of the
  interval since the Unix epoch (1970-01-01T00:00:00Z): ``every 5m`` fires at :00,
  :05, … on every host and across restarts. The time zone plays no part.
  ``every 1h from 2026-12-01T03:30:00+01:00`` counts the multiples from that start
  instead, and fires first at it (a start without an offset is wall-clock time in the
  schedule's time zone, as for one-shot times); nothing fires before the start.
* **once** — an ISO 8601 time, optionally written after ``at``:
  ``2026-12-01T03:00:00+01:00``, ``at 2026-12-01 03:00``. A time without an offset
  is wall-clock time in the schedule's time zone, mapped by the rules below (its
  first occurrence when the wall time repeats). It fires once; afterwards
  ``next_after`` returns None.

Time zones and daylight saving
------------------------------

Cron fields are matched against the wall clock of the schedule's IANA zone. Each
matching wall-clock time is then placed on the UTC time line. How depends on the
kind of expression, as in cronie (Vixie cron):

* a **wildcard** cron has ``*`` or a step in its minute, hour or seconds field
  (``*/15 * * * *``, ``0 */2 * * *``, ``0 * * * *``, ``@hourly``, ``0 8-18/2 * * *``):
  it fires on a pattern through the day;
* a **fixed-time** cron names its minutes and hours (``30 2 * * *``, ``0 9,17 * * *``,
  ``0 9-17 * * *``, ``@daily``): it fires at given times of day.

The rules:

1. A wall time that exists once fires at that instant.
2. A wall time that does not exist (the clock springs forward over it):

   * a fixed-time cron fires once, at the first valid instant after the gap, so a
     daily job is not lost: in Europe/Berlin on 2026-03-29 ``30 2 * * *`` fires at
     03:00 CEST (01:00 UTC). All the missing wall times of one gap map to that same
     instant, and so may the wall time the gap ends at; an instant fires at most
     once;
   * a wildcard cron does not fire for it: its next tick comes when the pattern
     next matches, and no off-pattern tick is added. In America/New_York on
     2026-03-08 ``0 */2 * * *`` fires at 00:00 EST and next at 04:00 EDT (02:00 does
     not exist); in Pacific/Chatham, whose clock jumps from 02:45 to 03:45,
     ``*/30 * * * *`` fires at 02:30 and next at 04:00, not at 03:45.

3. A wall time that occurs twice (the clock falls back over it):

   * a fixed-time cron fires at its first occurrence only: ``30 1 * * *`` in
     America/New_York on 2026-11-01 fires at 01:30 EDT, not again at 01:30 EST;
   * a wildcard cron fires at both occurrences, so its pattern goes on through
     the repeated hour: ``*/15 * * * *`` in Europe/Berlin on 2026-10-25 fires at
     02:00, 02:15, 02:30, 02:45 CEST and again at 02:00 ... 02:45 CET, every 15
     minutes of real time.

4. Fire times are strictly increasing in UTC, and they are computed from the UTC
   instant asked about, never from its wall time alone: asking in the middle of a
   repeated hour neither repeats an earlier fire nor skips a later one.

That is ``DstRepeat.AUTO``, the default. A cron may name its rule instead:
``DstRepeat.FIRST`` fires a repeated wall time once and ``DstRepeat.BOTH`` at both
occurrences, and with either a skipped wall time fires at the end of the gap
whatever the kind of expression (jobu's only rule before AUTO existed).

Intervals ignore the time zone; a one-shot time without an offset follows the rules
of a fixed-time cron whatever ``dst_repeat`` says (a one-shot fires once).

The minimum interval between fire times (``min_interval_seconds``, which
``validate_schedule`` holds against ``min_cron_interval_seconds``) judges the
expression, not the instant it is asked at: it is measured on the wall clock, where
a clock change shortens no interval, so a cron is accepted or refused the same on
any day of the year.

croniter does the field matching. It is handed only naive wall-clock datetimes and
expressions this module has already checked and rewritten into a form that croniter
1.3.5 (Debian 12) and 7.x read alike: explicit value lists instead of steps and
ranges, 0 for Sunday, and at most one restricted day field per croniter expression
(the either-day rule above is a merge of two croniter streams here, because the two
versions disagree on it).
"""

from __future__ import annotations

import abc
import heapq
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from jobu.errors import ScheduleError
from jobu.model import DstRepeat

__all__ = [
    "CronSchedule",
    "IntervalSchedule",
    "OneShotSchedule",
    "Schedule",
    "parse_schedule",
    "validate_schedule",
    "validate_timezone",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: How far min_interval_seconds looks ahead, counted from the first fire time.
MIN_INTERVAL_SAMPLE_SPAN = timedelta(days=2)
#: At most this many fire times are sampled by min_interval_seconds.
MIN_INTERVAL_SAMPLE_TICKS = 500
#: A cron's minimum interval is measured on the wall clock from just before 2000-01-01
#: (a leap year: February 29 is in the sample)...
MIN_INTERVAL_REFERENCE = datetime(1999, 12, 31, 23, 59, 59)  # noqa: DTZ001 - a wall time
#: ...over this span (every month and every day of the week), at most
#: MIN_INTERVAL_SAMPLE_TICKS fire times.
MIN_INTERVAL_REFERENCE_SPAN = timedelta(days=400)


# --- public entry points ---------------------------------------------------------


def parse_schedule(expression: str, timezone: str = "UTC",
                   dst_repeat: DstRepeat = DstRepeat.AUTO) -> Schedule:
    """Read a cron expression, an ``every …`` interval or a one-shot time.

    Raises ScheduleError, naming the problem and repeating the expression, when the
    expression, the time zone or ``dst_repeat`` is not valid.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ScheduleError("the schedule is empty; write a cron expression such as "
                            "'0 3 * * *', an interval such as 'every 5m' or a time "
                            "such as '2026-12-01T03:00:00+01:00'")
    zone = validate_timezone(timezone)
    repeat = _dst_repeat(dst_repeat)
    text = expression.strip()
    lowered = text.lower()
    if lowered.startswith("every"):
        return _parse_interval(text, timezone, zone)
    if lowered.startswith("at ") or lowered == "at" or _looks_like_iso_date(text):
        return OneShotSchedule(text, timezone, _parse_one_shot(text, zone))
    return _parse_cron(text, timezone, zone, repeat)


def validate_schedule(expression: str, timezone: str, min_interval_seconds: float,
                      now: datetime, dst_repeat: DstRepeat = DstRepeat.AUTO) -> Schedule:
    """Parse, and refuse a schedule that fires more often than `min_interval_seconds`.

    The gap is Schedule.min_interval_seconds(now): for a cron it does not depend on
    `now` (a clock change shortens no interval of the expression); for a one-shot
    time there is none.
    """
    schedule = parse_schedule(expression, timezone, dst_repeat)
    gap = schedule.min_interval_seconds(now)
    if gap is not None and gap < min_interval_seconds:
        raise ScheduleError(
            f"'{schedule.expression}' fires every {gap:g} s; the minimum is "
            f"{min_interval_seconds:g} s (min_cron_interval_seconds in dispatcher.yaml)"
        )
    return schedule


def validate_timezone(name: str) -> ZoneInfo:
    """The IANA zone called `name`, or ScheduleError if there is none."""
    if not isinstance(name, str) or not name.strip():
        raise ScheduleError("the time zone is empty; give an IANA name such as "
                            "'Europe/Berlin' or 'UTC'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone '{name}'") from None


# --- the schedule classes ----------------------------------------------------------


@dataclass(frozen=True)
class Schedule(abc.ABC):
    """When something fires. All answers are timezone-aware UTC datetimes."""

    kind: ClassVar[str]
    expression: str
    timezone: str

    @abc.abstractmethod
    def _fire_times(self, after: datetime) -> Iterator[datetime]:
        """All fire times strictly after the aware UTC instant `after`, ascending."""

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after`; None if there is none."""
        return next(self._fire_times(_as_utc(after, "after")), None)

    def next_times(self, after: datetime, n: int) -> list[datetime]:
        """Up to `n` fire times strictly after `after`, ascending."""
        if n < 0:
            raise ValueError(f"n must not be negative, got {n}")
        return list(itertools.islice(self._fire_times(_as_utc(after, "after")), n))

    def ticks_between(self, start: datetime, end: datetime,
                      limit: int | None = None) -> list[datetime]:
        """Fire times t with start < t <= end, ascending, at most `limit` of them."""
        start_utc = _as_utc(start, "start")
        end_utc = _as_utc(end, "end")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        ticks = itertools.takewhile(lambda t: t <= end_utc, self._fire_times(start_utc))
        return list(itertools.islice(ticks, limit))

    def min_interval_seconds(self, after: datetime) -> float | None:
        """The smallest gap between consecutive fire times after `after`.

        Sampled over the two days that follow the first fire time (at least two
        fire times, at most 500), which covers every pattern a cron repeats within
        a day and from one day to the next. None if it fires fewer than twice.
        """
        return _smallest_gap(self._fire_times(_as_utc(after, "after")))


@dataclass(frozen=True)
class CronSchedule(Schedule):
    """A cron expression evaluated on the wall clock of `timezone`."""

    kind: ClassVar[str] = "cron"
    dst_repeat: DstRepeat
    #: The croniter expressions whose merged wall-clock times are this schedule's.
    croniter_expressions: tuple[str, ...] = field(repr=False)
    zone: ZoneInfo = field(repr=False, compare=False)
    #: ``*`` or a step in the minute, hour or seconds field (see "daylight saving").
    wildcard: bool = False

    @property
    def fires_both_passes(self) -> bool:
        """A wall time that occurs twice fires at both occurrences."""
        if self.dst_repeat is DstRepeat.AUTO:
            return self.wildcard
        return self.dst_repeat is DstRepeat.BOTH

    @property
    def catches_up_after_a_gap(self) -> bool:
        """A wall time the clock skips fires at the end of the gap (else not at all)."""
        return not (self.dst_repeat is DstRepeat.AUTO and self.wildcard)

    def min_interval_seconds(self, after: datetime) -> float | None:
        """The smallest gap between consecutive matching wall-clock times.

        Measured on the wall clock, from the start of 2000 (MIN_INTERVAL_REFERENCE)
        over 400 days or 500 fire times, whichever ends first: every gap within a day,
        from a day to the next and from a month to the next. The answer is the
        expression's, the same whenever it is asked (`after` is only checked): a clock
        change shortens no interval, and a spring-forward tick caught up at the end
        of a gap does not count against the minimum. None if it fires fewer than
        twice in that span.
        """
        _as_utc(after, "after")
        walls = self._wall_times_after(MIN_INTERVAL_REFERENCE)
        return _smallest_gap((wall.replace(tzinfo=UTC) for wall in walls),
                             MIN_INTERVAL_REFERENCE_SPAN)

    def _fire_times(self, after: datetime) -> Iterator[datetime]:
        try:
            yield from self._fire_times_until_the_calendar_ends(after)
        except OverflowError:
            # Wall times near year 1 or 9999 have no UTC instant in range: no more fires.
            return

    def _fire_times_until_the_calendar_ends(self, after: datetime) -> Iterator[datetime]:
        both = self.fires_both_passes
        catch_up = self.catches_up_after_a_gap
        later_occurrences: list[datetime] = []
        last = after
        for wall in self._wall_times_after(self._first_relevant_wall_time(after)):
            instants = _instants_of_wall_time(wall, self.zone, both, catch_up)
            if not instants:
                continue  # skipped by the clock, and not caught up
            # Every later wall time fires at or after instants[0], so whatever is
            # still waiting and not later than it can be given out now, in order.
            while later_occurrences and later_occurrences[0] <= instants[0]:
                pending = heapq.heappop(later_occurrences)
                if pending > last:
                    yield pending
                    last = pending
            if instants[0] > last:
                yield instants[0]
                last = instants[0]
            for instant in instants[1:]:
                heapq.heappush(later_occurrences, instant)
        while later_occurrences:
            pending = heapq.heappop(later_occurrences)
            if pending > last:
                yield pending
                last = pending

    def _first_relevant_wall_time(self, after: datetime) -> datetime:
        """The wall time to start from: nothing at or before it fires after `after`.

        Normally the wall time of `after`. With BOTH, when `after` lies in the first
        pass of a repeated hour, the second occurrences of the wall times just before
        it are still to come, so start that much earlier.
        """
        wall = after.astimezone(self.zone).replace(tzinfo=None, fold=0, microsecond=0)
        if self.fires_both_passes:
            wall -= _repeat_length(wall, self.zone)
        return wall

    def _wall_times_after(self, start: datetime) -> Iterator[datetime]:
        """The naive wall-clock times matching the expression, strictly after `start`."""
        streams = [_croniter_wall_times(text, start) for text in self.croniter_expressions]
        previous = None
        for wall in heapq.merge(*streams):
            if wall != previous:
                yield wall
                previous = wall


@dataclass(frozen=True)
class IntervalSchedule(Schedule):
    """Fires every `seconds`, at `anchor` and the multiples of `seconds` after it.

    The anchor is the Unix epoch unless the expression names a start (``from …``).
    """

    kind: ClassVar[str] = "interval"
    seconds: int
    anchor: datetime = EPOCH

    def _fire_times(self, after: datetime) -> Iterator[datetime]:
        step = timedelta(seconds=self.seconds)
        tick_number = max(0, (after - self.anchor) // step + 1)
        try:
            tick = self.anchor + tick_number * step
            while True:
                yield tick
                tick += step
        except OverflowError:
            return

    def min_interval_seconds(self, after: datetime) -> float | None:
        """The interval itself: every gap between fire times is that long."""
        _as_utc(after, "after")
        return float(self.seconds)


@dataclass(frozen=True)
class OneShotSchedule(Schedule):
    """Fires once, at `at` (UTC)."""

    kind: ClassVar[str] = "once"
    at: datetime

    def _fire_times(self, after: datetime) -> Iterator[datetime]:
        if self.at > after:
            yield self.at

    def min_interval_seconds(self, after: datetime) -> float | None:
        """None: a single fire time has no gap."""
        _as_utc(after, "after")
        return None


def _smallest_gap(ticks: Iterator[datetime],
                  span: timedelta = MIN_INTERVAL_SAMPLE_SPAN) -> float | None:
    """The smallest gap in seconds between consecutive ticks, over a sample.

    The sample runs for `span` after the first tick (at least two ticks, at most
    MIN_INTERVAL_SAMPLE_TICKS). None if there are fewer than two.
    """
    first = next(ticks, None)
    if first is None:
        return None
    horizon = first + span
    smallest: float | None = None
    previous = first
    for count, tick in enumerate(ticks, start=2):
        gap = (tick - previous).total_seconds()
        smallest = gap if smallest is None else min(smallest, gap)
        previous = tick
        if tick >= horizon or count >= MIN_INTERVAL_SAMPLE_TICKS:
            break
    return smallest


# --- wall-clock time to UTC ----------------------------------------------------------


def _instants_of_wall_time(wall: datetime, zone: ZoneInfo, both: bool,
                           catch_up: bool = True) -> tuple[datetime, ...]:
    """The UTC instants at which a naive wall time of `zone` fires, ascending.

    One instant for an ordinary wall time; for a wall time that does not exist, the
    first valid instant after the gap (with `catch_up`) or none; the first (or, with
    `both`, each) occurrence of a wall time that occurs twice.
    """
    first_try = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second_try = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first_try == second_try:
        return (first_try,)
    if _wall_time_of(first_try, zone) == wall:
        # Both folds exist, so the wall time repeats; fold=0 is its first occurrence.
        return (first_try, second_try) if both else (first_try,)
    # Neither fold exists: the wall time is in a gap, between the two candidates.
    if not catch_up:
        return ()
    return (_transition_between(min(first_try, second_try), max(first_try, second_try),
                                zone),)


def _wall_time_of(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _transition_between(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The instant in (before, after] at which `zone` changes its UTC offset.

    Offsets change on whole seconds, so a bisection over seconds finds it exactly.
    """
    offset_before = before.astimezone(zone).utcoffset()
    low = int(before.timestamp())
    high = int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _repeat_length(wall: datetime, zone: ZoneInfo) -> timedelta:
    """How long the clock fell back over `wall`; zero when `wall` occurs once."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    offset_first = first.utcoffset() or timedelta(0)
    offset_second = second.utcoffset() or timedelta(0)
    return max(offset_first - offset_second, timedelta(0))


def _croniter_wall_times(expression: str, start: datetime) -> Iterator[datetime]:
    """croniter's naive datetimes strictly after `start`, until it runs out of calendar."""
    iterator = croniter(expression, start)
    while True:
        try:
            yield iterator.get_next(datetime)
        except (ValueError, OverflowError):
            # croniter's "failed to find next date" and year 10000 are both the end.
            return


# --- cron expressions ----------------------------------------------------------------

_MONTH_NAMES = {name: number for number, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    start=1)}
_DAY_NAMES = {name: number for number, name in enumerate(
    ["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}

_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

#: The longest month of each number (February counts its leap day).
_MONTH_LENGTHS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30,
                  7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


@dataclass(frozen=True)
class _FieldKind:
    """One position of a cron expression and the values it allows."""

    name: str
    low: int
    high: int
    #: The values `*` stands for (day of week: 0-6, although 7 is allowed too).
    star_high: int
    names: dict[str, int] = field(default_factory=dict)
    name_word: str = ""


_MINUTE = _FieldKind("minute", 0, 59, 59)
_HOUR = _FieldKind("hour", 0, 23, 23)
_DAY_OF_MONTH = _FieldKind("day of month", 1, 31, 31)
_MONTH = _FieldKind("month", 1, 12, 12, _MONTH_NAMES, "month")
_DAY_OF_WEEK = _FieldKind("day of week", 0, 7, 6, _DAY_NAMES, "day")
_SECOND = _FieldKind("second", 0, 59, 59)
_FIELD_KINDS = (_MINUTE, _HOUR, _DAY_OF_MONTH, _MONTH, _DAY_OF_WEEK, _SECOND)


@dataclass(frozen=True)
class _CronField:
    """One parsed field: its plain values and the items croniter takes as they are."""

    values: frozenset[int]
    #: ``L`` in day of month; ``d#n`` and ``Ld`` in day of week.
    specials: tuple[str, ...]
    #: Written as ``*`` or ``?``: for the day fields, "not restricted".
    is_star: bool


def _parse_cron(text: str, timezone: str, zone: ZoneInfo, repeat: DstRepeat) -> CronSchedule:
    fields_text = _expand_macro(text).split()
    if len(fields_text) not in (5, 6):
        raise ScheduleError(f"expected 5 or 6 fields, got {len(fields_text)} in '{text}'")
    parsed = [_parse_field(field_text, kind, text)
              for field_text, kind in zip(fields_text, _FIELD_KINDS, strict=False)]
    return CronSchedule(text, timezone, repeat, _croniter_expressions(parsed, text), zone,
                        _is_wildcard(fields_text))


def _is_wildcard(fields_text: list[str]) -> bool:
    """``*`` or a step in the minute, hour or seconds field: it fires on a pattern."""
    timed = fields_text[:2] + fields_text[5:]
    return any("*" in text or "/" in text for text in timed)


def _expand_macro(text: str) -> str:
    if not text.startswith("@"):
        return text
    try:
        return _MACROS[text.lower()]
    except KeyError:
        known = ", ".join(_MACROS)
        raise ScheduleError(f"unknown macro '{text}'; use one of {known}") from None


def _parse_field(text: str, kind: _FieldKind, expression: str) -> _CronField:
    if text == "*" or (text == "?" and kind in (_DAY_OF_MONTH, _DAY_OF_WEEK)):
        return _CronField(frozenset(range(kind.low, kind.star_high + 1)), (), True)
    values: set[int] = set()
    specials: list[str] = []
    for item in text.split(","):
        if not item:
            raise ScheduleError(f"field '{kind.name}': '{text}' has an empty list item "
                                f"in '{expression}'")
        special = _special_item(item, kind, expression)
        if special is not None:
            specials.append(special)
        else:
            values.update(_parse_item(item, kind, expression))
    if kind is _DAY_OF_WEEK and 7 in values:
        values = (values - {7}) | {0}
    return _CronField(frozenset(values), tuple(dict.fromkeys(specials)), False)


def _special_item(item: str, kind: _FieldKind, expression: str) -> str | None:
    """The croniter form of an ``L``, ``d#n`` or ``Ld`` item, or None for a plain item."""
    if kind is _DAY_OF_MONTH and item.upper() == "L":
        return "L"
    if kind is not _DAY_OF_WEEK:
        return None
    nth = re.fullmatch(r"(\w+)#(\w*)", item)
    if nth:
        day = _day_of_week_value(nth.group(1), item, expression)
        week = nth.group(2)
        if not week.isdigit() or not 1 <= int(week) <= 5:
            raise ScheduleError(f"field '{kind.name}': '{item}' asks for week '{week}' of "
                                f"the month; weeks are 1-5 in '{expression}'")
        return f"{day}#{int(week)}"
    last = re.fullmatch(r"[lL](\w+)", item)
    if last:
        return f"L{_day_of_week_value(last.group(1), item, expression)}"
    return None


def _day_of_week_value(token: str, item: str, expression: str) -> int:
    """A day of week as 0-6: 7 is Sunday, like 0."""
    return _value(token, item, _DAY_OF_WEEK, expression) % 7


def _parse_item(item: str, kind: _FieldKind, expression: str) -> set[int]:
    """The values of one list item: ``*``, ``a``, ``a-b``, each optionally ``/step``."""
    base, slash, step_text = item.partition("/")
    step = _step(step_text, item, kind, expression) if slash else 1
    if base == "*":
        low, high = kind.low, kind.star_high
    elif "-" in base:
        low_text, _, high_text = base.partition("-")
        low = _value(low_text, item, kind, expression)
        high = _value(high_text, item, kind, expression)
        if high < low:
            return _wrapped_range(item, low, high, bool(slash), kind, expression)
    else:
        low = _value(base, item, kind, expression)
        # croniter's "a/n": from a to the end of the field.
        high = kind.star_high if slash else low
    if slash and high > low and step > high - low:
        raise ScheduleError(f"field '{kind.name}': the step in '{item}' is larger than the "
                            f"range {low}-{high}, so it would only ever be {low}, in "
                            f"'{expression}'")
    return set(range(low, high + 1, step))


def _wrapped_range(item: str, low: int, high: int, has_step: bool, kind: _FieldKind,
                   expression: str) -> set[int]:
    """A range such as ``22-2`` that runs past the end of the field and around."""
    if has_step:
        raise ScheduleError(f"field '{kind.name}': '{item}' wraps around and has a step; "
                            f"write it as two ranges in '{expression}'")
    return set(range(low, kind.high + 1)) | set(range(kind.low, high + 1))


def _step(text: str, item: str, kind: _FieldKind, expression: str) -> int:
    if not text.isdigit():
        raise ScheduleError(f"field '{kind.name}': the step in '{item}' is not a whole number "
                            f"in '{expression}'")
    if int(text) == 0:
        raise ScheduleError(f"field '{kind.name}': '{item}' has a zero step in '{expression}'")
    return int(text)


def _value(token: str, item: str, kind: _FieldKind, expression: str) -> int:
    """One number or name of a field, checked against the field's range."""
    if token.lower() in kind.names:
        return kind.names[token.lower()]
    if not token.isdigit():
        what = f"a number or a {kind.name_word} name" if kind.names else "a number"
        shown = token or item
        raise ScheduleError(f"field '{kind.name}': '{shown}' is not {what} in '{expression}'")
    value = int(token)
    if not kind.low <= value <= kind.high:
        raise ScheduleError(f"field '{kind.name}' out of range {kind.low}-{kind.high} "
                            f"in '{expression}'")
    return value


def _croniter_expressions(fields: list[_CronField], expression: str) -> tuple[str, ...]:
    """croniter expressions whose merged times are the schedule's.

    Each has at most one restricted day field, because croniter 1.3.5 and 7.x do
    not agree on how to combine two; the either-day rule becomes a merge. Every
    ``d#n`` / ``Ld`` item gets its own expression, because neither version takes
    them in a list with other days.
    """
    minute, hour, day_of_month, month, day_of_week = fields[:5]
    seconds = [_render(fields[5], _SECOND)] if len(fields) == 6 else []

    def expression_with(days_of_month: str, days_of_week: str) -> str:
        return " ".join([_render(minute, _MINUTE), _render(hour, _HOUR), days_of_month,
                         _render(month, _MONTH), days_of_week, *seconds])

    if day_of_month.is_star and day_of_week.is_star:
        return (expression_with("*", "*"),)
    expressions = []
    if not day_of_month.is_star and _day_of_month_can_match(day_of_month, month):
        expressions.append(expression_with(_render(day_of_month, _DAY_OF_MONTH), "*"))
    if not day_of_week.is_star:
        if day_of_week.values:
            expressions.append(expression_with("*", _render(day_of_week, _DAY_OF_WEEK)))
        expressions += [expression_with("*", special) for special in day_of_week.specials]
    if not expressions:
        raise ScheduleError(f"'{expression}' never fires: none of its months has a day "
                            f"{min(day_of_month.values)}")
    return tuple(expressions)


def _day_of_month_can_match(day_of_month: _CronField, month: _CronField) -> bool:
    if day_of_month.specials:
        return True
    longest_month = max(_MONTH_LENGTHS[number] for number in month.values)
    return min(day_of_month.values) <= longest_month


def _render(cron_field: _CronField, kind: _FieldKind) -> str:
    """The field as every croniter version reads it alike: ``*`` or a list of values."""
    if cron_field.values >= set(range(kind.low, kind.star_high + 1)):
        return "*"
    items = [str(value) for value in sorted(cron_field.values)]
    if kind is _DAY_OF_MONTH:
        items += cron_field.specials
    return ",".join(items)


# --- intervals -----------------------------------------------------------------------

_UNIT_SECONDS = {
    **dict.fromkeys(["s", "sec", "secs", "second", "seconds"], 1),
    **dict.fromkeys(["m", "min", "mins", "minute", "minutes"], 60),
    **dict.fromkeys(["h", "hr", "hrs", "hour", "hours"], 3600),
    **dict.fromkeys(["d", "day", "days"], 86400),
}
_INTERVAL_PART = re.compile(r"(\d+)\s*([a-z]+)")
_INTERVAL = re.compile(r"(?:\s*\d+\s*[a-z]+)+\s*")
_LONGEST_INTERVAL_SECONDS = 100 * 365 * 86400


_INTERVAL_START = re.compile(r"\s+from\s+", re.IGNORECASE)


def _parse_interval(text: str, timezone: str, zone: ZoneInfo) -> IntervalSchedule:
    """``every <duration>``, optionally ``from <ISO 8601 time>`` (the first fire time)."""
    duration_text, *start = _INTERVAL_START.split(text, maxsplit=1)
    seconds = _parse_interval_seconds(duration_text)
    if not start:
        return IntervalSchedule(text, timezone, seconds)
    return IntervalSchedule(text, timezone, seconds, _parse_one_shot(start[0], zone))


def _parse_interval_seconds(text: str) -> int:
    duration = text[len("every"):].strip().lower()
    if not _INTERVAL.fullmatch(duration):
        raise ScheduleError(f"malformed interval in '{text}'; write a number and a unit, "
                            "e.g. 'every 90s', 'every 5m', 'every 2h', 'every 1d', "
                            "'every 1h30m'")
    total = 0
    seen_units: set[int] = set()
    for amount, unit in _INTERVAL_PART.findall(duration):
        if unit not in _UNIT_SECONDS:
            raise ScheduleError(f"unknown interval unit '{unit}' in '{text}'; use s, m, h "
                                "or d (seconds, minutes, hours, days)")
        if _UNIT_SECONDS[unit] in seen_units:
            raise ScheduleError(f"interval unit '{unit}' is given twice in '{text}'")
        seen_units.add(_UNIT_SECONDS[unit])
        total += int(amount) * _UNIT_SECONDS[unit]
    if total == 0:
        raise ScheduleError(f"the interval must be longer than 0 s in '{text}'")
    if total > _LONGEST_INTERVAL_SECONDS:
        raise ScheduleError(f"the interval in '{text}' is longer than 100 years")
    return total


# --- one-shot times ------------------------------------------------------------------

_ISO_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATE_ONLY = re.compile(r"\d{4}-?\d{2}-?\d{2}")


def _looks_like_iso_date(text: str) -> bool:
    return _ISO_DATE_START.match(text) is not None


def _parse_one_shot(text: str, zone: ZoneInfo) -> datetime:
    time_text = text[3:].strip() if text.lower().startswith("at") else text
    example = "write e.g. '2026-12-01T03:00:00+01:00' or '2026-12-01 03:00'"
    if _ISO_DATE_ONLY.fullmatch(time_text):
        raise ScheduleError(f"'{text}' has a date but no time of day; {example}")
    try:
        when = datetime.fromisoformat(time_text)
    except ValueError as error:
        # Python's own reason is worth passing on ("month must be in 1..12"), unless it
        # only says that the string is not ISO 8601.
        reason = "" if str(error).startswith("Invalid isoformat") else f" ({error})"
        raise ScheduleError(f"malformed ISO 8601 time '{time_text}' in '{text}'{reason}; "
                            f"{example}") from None
    if when.tzinfo is not None:
        return when.astimezone(UTC)
    return _instants_of_wall_time(when, zone, both=False)[0]


# --- small helpers -------------------------------------------------------------------


def _as_utc(value: datetime, name: str) -> datetime:
    """`value` in UTC; a naive datetime is refused, since its zone cannot be known."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value.isoformat()}); "
                         "jobu computes schedules in UTC")
    return value.astimezone(UTC)


def _dst_repeat(value: DstRepeat | str) -> DstRepeat:
    try:
        return DstRepeat(value)
    except ValueError:
        *others, last = (f"'{choice.value}'" for choice in DstRepeat)
        choices = f"{', '.join(others)} or {last}"
        raise ScheduleError(f"unknown dst_repeat '{value}'; use {choices}") from None

