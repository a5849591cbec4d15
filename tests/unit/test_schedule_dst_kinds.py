"""Daylight saving by kind of expression (issue 14): dst_repeat ``auto``, the default.

As cronie does: a fixed-time cron (its minute and hour fields name values) fires a
wall time the clock skips once at the end of the gap, and a repeated wall time
once; a wildcard cron (``*`` or a step in the minute or hour field) gets no
off-pattern tick in a gap and fires in both passes of a repeated hour.

First the cases measured in the issue and a few more, worked out by hand; then a
property over the clock changes of many zones 2000-2040, against a reference that
walks UTC minute by minute and knows nothing of jobu.schedule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobu.errors import ScheduleError
from jobu.model import DstRepeat
from jobu.schedule import parse_schedule, validate_schedule

AUTO, FIRST, BOTH = DstRepeat.AUTO, DstRepeat.FIRST, DstRepeat.BOTH


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def fires(expression: str, zone: str, start: datetime, end: datetime,
          repeat: DstRepeat = AUTO) -> list[datetime]:
    return parse_schedule(expression, zone, repeat).ticks_between(start, end)


def every(start: datetime, end: datetime, minutes: int) -> list[datetime]:
    out, instant = [], start
    while instant <= end:
        out.append(instant)
        instant += timedelta(minutes=minutes)
    return out


# --- the kind of an expression -----------------------------------------------------

@pytest.mark.parametrize(("expression", "wildcard"), [
    ("*/15 * * * *", True), ("0 */2 * * *", True), ("0 * * * *", True),
    ("@hourly", True), ("0 8-18/2 * * *", True), ("*/10 2 * * *", True),
    ("0 9 * * * */10", True), ("* * * * *", True),
    ("30 2 * * *", False), ("0 9,17 * * *", False), ("0 9-17 * * 1-5", False),
    ("@daily", False), ("0 0 L * *", False), ("0 3 * * */2", False),
])
def test_the_kind_of_an_expression(expression, wildcard):
    schedule = parse_schedule(expression, "Europe/Berlin")
    assert schedule.dst_repeat is AUTO
    assert schedule.wildcard is wildcard
    assert schedule.fires_both_passes is wildcard
    assert schedule.catches_up_after_a_gap is not wildcard


@pytest.mark.parametrize("repeat", [FIRST, BOTH])
def test_an_explicit_rule_catches_up_after_a_gap_for_every_kind(repeat):
    schedule = parse_schedule("*/15 * * * *", "Europe/Berlin", repeat)
    assert schedule.catches_up_after_a_gap
    assert schedule.fires_both_passes is (repeat is BOTH)


# --- the measured cases of issue 14 -------------------------------------------------

def test_new_york_every_two_hours_has_no_off_pattern_tick_at_the_end_of_the_gap():
    # 2026-03-08: 02:00 EST becomes 03:00 EDT. 00:00 EST is 05:00 UTC, 04:00 EDT 08:00 UTC.
    start, end = utc(2026, 3, 8, 0), utc(2026, 3, 8, 12)
    assert fires("0 */2 * * *", "America/New_York", start, end) == [
        utc(2026, 3, 8, 1), utc(2026, 3, 8, 3), utc(2026, 3, 8, 5),
        utc(2026, 3, 8, 8), utc(2026, 3, 8, 10), utc(2026, 3, 8, 12)]
    # dst_repeat: first keeps the rule from before: 02:00 fires at 03:00 EDT (07:00 UTC).
    assert utc(2026, 3, 8, 7) in fires("0 */2 * * *", "America/New_York", start, end, FIRST)


def test_chatham_every_half_hour_skips_the_gap_without_a_tick_at_03_45():
    # 2026-09-27: 02:45 +1245 becomes 03:45 +1345. 02:30 +1245 is 13:45 UTC, 04:00 +1345
    # is 14:15 UTC; 03:45 +1345 (14:00 UTC) is off the pattern.
    start, end = utc(2026, 9, 26, 13, 0), utc(2026, 9, 26, 15, 0)
    assert fires("*/30 * * * *", "Pacific/Chatham", start, end) == [
        utc(2026, 9, 26, 13, 15), utc(2026, 9, 26, 13, 45), utc(2026, 9, 26, 14, 15),
        utc(2026, 9, 26, 14, 45)]
    assert utc(2026, 9, 26, 14, 0) in fires("*/30 * * * *", "Pacific/Chatham", start, end,
                                           FIRST)


def test_berlin_every_quarter_hour_runs_through_the_repeated_hour():
    # 2026-10-25: 03:00 CEST becomes 02:00 CET. Every 15 min of real time, no 75-min hole.
    start, end = utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 2, 30)
    assert fires("*/15 * * * *", "Europe/Berlin", start, end) == every(
        utc(2026, 10, 24, 23, 45), end, 15)
    first = fires("*/15 * * * *", "Europe/Berlin", start, end, FIRST)
    assert utc(2026, 10, 25, 1, 0) not in first and utc(2026, 10, 25, 2, 0) in first


def test_a_fixed_time_cron_catches_up_after_the_gap_and_runs_once_when_repeated():
    # Berlin 2026-03-29: 02:30 does not exist; it fires at 03:00 CEST (01:00 UTC).
    assert fires("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12),
                 utc(2026, 3, 30, 12)) == [utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)]
    # New York 2026-11-01: 01:30 happens twice; it fires at 01:30 EDT (05:30 UTC) only.
    assert fires("30 1 * * *", "America/New_York", utc(2026, 10, 31, 12),
                 utc(2026, 11, 1, 12)) == [utc(2026, 11, 1, 5, 30)]


def test_lord_howe_half_hour_shift():
    # 2026-10-04: 02:00 +1030 becomes 02:30 +11. 01:45 +1030 is 15:15 UTC on the 3rd.
    start, end = utc(2026, 10, 3, 15, 0), utc(2026, 10, 3, 16, 0)
    assert fires("*/15 * * * *", "Australia/Lord_Howe", start, end) == every(
        utc(2026, 10, 3, 15, 15), end, 15)
    # 02:15 does not exist: a fixed-time cron fires at 02:30 +11 (15:30 UTC).
    assert fires("15 2 * * *", "Australia/Lord_Howe", start, end) == [utc(2026, 10, 3, 15, 30)]
    # 2026-04-05: 02:00 +11 becomes 01:30 +1030; 01:30-01:59 repeats.
    start, end = utc(2026, 4, 4, 14, 0), utc(2026, 4, 4, 16, 0)
    assert fires("*/15 * * * *", "Australia/Lord_Howe", start, end) == every(
        utc(2026, 4, 4, 14, 15), end, 15)
    assert fires("45 1 * * *", "Australia/Lord_Howe", start, end) == [utc(2026, 4, 4, 14, 45)]


def test_apia_skipped_a_whole_day():
    # Samoa went from 2011-12-29 23:59:59 -10 to 2011-12-31 00:00 +14 (10:00 UTC on the 30th).
    start, end = utc(2011, 12, 29, 12), utc(2011, 12, 31, 0)
    # A daily job is not lost: the 30th's 09:00 fires where the clock lands.
    assert fires("0 9 * * *", "Pacific/Apia", start, end) == [
        utc(2011, 12, 29, 19), utc(2011, 12, 30, 10), utc(2011, 12, 30, 19)]
    # Every two hours goes on from 22:00 on the 29th to 00:00 on the 31st.
    two_hourly = fires("0 */2 * * *", "Pacific/Apia", utc(2011, 12, 30, 7), utc(2011, 12, 30, 14))
    assert two_hourly == [utc(2011, 12, 30, 8), utc(2011, 12, 30, 10),
                          utc(2011, 12, 30, 12), utc(2011, 12, 30, 14)]


# --- the minimum interval judges the expression ---------------------------------------

@pytest.mark.parametrize("asked", [utc(2026, 3, 1), utc(2026, 3, 7), utc(2026, 3, 8, 6),
                                   utc(2026, 10, 31), utc(2026, 11, 1, 5)])
@pytest.mark.parametrize("repeat", [AUTO, FIRST, BOTH])
def test_the_minimum_interval_does_not_depend_on_when_it_is_asked(asked, repeat):
    schedule = validate_schedule("0 */2 * * *", "America/New_York", 7200, asked, repeat)
    assert schedule.min_interval_seconds(asked) == 7200
    with pytest.raises(ScheduleError, match="fires every 7200 s"):
        validate_schedule("0 */2 * * *", "America/New_York", 7201, asked, repeat)


# --- properties -------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "Europe/London", "America/New_York", "America/St_Johns",
         "America/Santiago", "America/Havana", "Australia/Sydney", "Australia/Lord_Howe",
         "Pacific/Chatham", "Pacific/Apia", "Asia/Tehran", "Asia/Beirut"]

#: Each cron under test, with the wall times it matches and whether it is wildcard.
CRONS: dict[str, tuple[Callable[[datetime], bool], bool]] = {
    "0 */2 * * *": (lambda wall: wall.minute == 0 and wall.hour % 2 == 0, True),
    "*/30 * * * *": (lambda wall: wall.minute % 30 == 0, True),
    "*/15 * * * *": (lambda wall: wall.minute % 15 == 0, True),
    "30 2 * * *": (lambda wall: (wall.hour, wall.minute) == (2, 30), False),
    "15 1,2 * * *": (lambda wall: wall.hour in (1, 2) and wall.minute == 15, False),
}
MINUTE = timedelta(minutes=1)
WINDOW = timedelta(hours=30)


def reference(matches: Callable[[datetime], bool], zone: ZoneInfo, start: datetime,
              end: datetime, both: bool, catch_up: bool) -> list[datetime]:
    """The fire times in (start, end], from a minute-by-minute walk over UTC."""
    margin = timedelta(hours=3)
    minutes = []
    instant = (start - margin).replace(second=0, microsecond=0)
    while instant <= end + margin:
        minutes.append((instant, instant.astimezone(zone).replace(tzinfo=None)))
        instant += MINUTE
    shown: dict[datetime, list[datetime]] = defaultdict(list)
    for instant, wall in minutes:
        shown[wall].append(instant)
    found: set[datetime] = set()
    wall, last_wall = min(shown), max(shown)
    while wall <= last_wall:
        if matches(wall):
            if wall in shown:
                found.update(shown[wall] if both else shown[wall][:1])
            elif catch_up:
                found.add(next(i for (_, before), (i, after)
                               in zip(minutes, minutes[1:], strict=False)
                               if before < wall < after))
        wall += MINUTE
    return sorted(fire for fire in found if start < fire <= end)


def changes_in(zone: ZoneInfo, year: int) -> list[datetime]:
    """The instants at which `zone` changes its offset in `year`, to the second."""
    noons = [utc(year, 1, 1, 12) + timedelta(days=day) for day in range(366)]
    found = []
    for before, after in zip(noons, noons[1:], strict=False):
        if before.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset():
            low, high = int(before.timestamp()), int(after.timestamp())
            offset = before.astimezone(zone).utcoffset()
            while high - low > 1:
                middle = (low + high) // 2
                if datetime.fromtimestamp(middle, zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            found.append(datetime.fromtimestamp(high, UTC))
    return found


@st.composite
def zone_and_start(draw):
    """A zone and an instant up to 29 h before, or 2 h after, one of its clock changes."""
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    year = draw(st.integers(2000, 2040))
    changes = changes_in(zone, year) or changes_in(zone, 2011)
    change = draw(st.sampled_from(changes))
    offset = draw(st.integers(-29 * 3600, 2 * 3600))
    return zone, change + timedelta(seconds=offset)


@pytest.mark.parametrize("cron", list(CRONS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zone_and_start())
def test_auto_follows_the_kind_of_expression_across_every_clock_change(cron, zone_start):
    zone, start = zone_start
    matches, wildcard = CRONS[cron]
    schedule = parse_schedule(cron, zone.key)
    end = start + WINDOW
    found = schedule.ticks_between(start, end)
    assert found == reference(matches, zone, start, end, both=wildcard, catch_up=not wildcard)
    # One fire at a time, from each fire, gives the same answers.
    chained, after = [], start
    while len(chained) < 30 and (after := schedule.next_after(after)) <= end:
        chained.append(after)
    assert chained == found[:30]
