"""jobu.schedule across daylight-saving transitions, checked against brute force.

The reference here knows nothing of the module's technique: it walks UTC minute by
minute, asks zoneinfo for each minute's wall time (UTC -> local only, the direction
that has no ambiguity), and derives from that alone which instants a cron must fire
at: a matching wall time that occurs fires at its first occurrence (FIRST) or every
occurrence (BOTH); a matching wall time that the clock skips fires at the minute
the clock lands on after skipping it. Starting instants are drawn from 2000-2040 in
~15 zones that change their clocks, most of them shortly before or after a change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobu.model import DstRepeat
from jobu.schedule import EPOCH, parse_schedule

ZONES = [
    "Europe/Berlin", "Europe/London", "Europe/Dublin", "Europe/Chisinau",
    "America/New_York", "America/Chicago", "America/Los_Angeles", "America/St_Johns",
    "America/Santiago", "America/Havana", "America/Sao_Paulo",
    "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Auckland", "Pacific/Chatham",
    "Asia/Tehran", "Asia/Beirut",
]

#: The crons under test, with the wall times they match written independently.
CRONS: dict[str, Callable[[datetime], bool]] = {
    "0 * * * *": lambda wall: wall.minute == 0,
    "0 3 * * *": lambda wall: (wall.hour, wall.minute) == (3, 0),
    "30 2 * * *": lambda wall: (wall.hour, wall.minute) == (2, 30),
    # Lands in every gap, including the 30-minute one of Lord Howe and Chatham's
    # 02:45-03:45. (Where the gap is a whole hour, an hourly pattern's missing wall
    # times coincide with the hour before or after; "30 2" is the one that shows
    # where a missing wall time is placed.)
    "*/15 * * * *": lambda wall: wall.minute % 15 == 0,
}

WINDOW = timedelta(hours=36)
#: How many fires of a window are also asked for one next_after at a time.
CHAINED_FIRES = 40
MINUTE = timedelta(minutes=1)
FIRST_INSTANT = datetime(2000, 1, 1, tzinfo=UTC)
LAST_INSTANT = datetime(2040, 12, 31, tzinfo=UTC)
YEAR_OF_CHANGES = datetime(2010, 1, 1, tzinfo=UTC)

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


def wall_time(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def clock_changes_near(zone: ZoneInfo, instant: datetime) -> list[datetime]:
    """Noon UTC of each day in the year after `instant` whose offset differs from the day before."""
    noons = [instant.replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=d)
             for d in range(367)]
    offsets = [noon.astimezone(zone).utcoffset() for noon in noons]
    return [noons[day] for day in range(1, len(noons)) if offsets[day] != offsets[day - 1]]


def clock_change_before(zone: ZoneInfo, noon_after_change: datetime) -> datetime:
    """The instant within the day before `noon_after_change` at which the offset changes."""
    low = int((noon_after_change - timedelta(days=1)).timestamp())
    high = int(noon_after_change.timestamp())
    offset_before = datetime.fromtimestamp(low, zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


@st.composite
def zone_and_start(draw):
    """A zone and an instant in 2000-2040, mostly close to a change of the zone's clock.

    Hypothesis favours small numbers, so small choices mean "near a change": up to
    35 h before one (the 36 h window then contains it), or up to 2 h after one (in
    the second pass of a repeated hour, or just past a gap).
    """
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    seconds = draw(st.integers(0, int((LAST_INSTANT - FIRST_INSTANT).total_seconds())))
    start = FIRST_INSTANT + timedelta(seconds=seconds)
    where = draw(st.sampled_from(["before a change"] * 3 + ["after a change", "anywhere"]))
    if where == "anywhere":
        return zone, start
    # Some zones stopped changing their clocks (Asia/Tehran in 2022); all did in 2010.
    changes = clock_changes_near(zone, start) or clock_changes_near(zone, YEAR_OF_CHANGES)
    change = clock_change_before(zone, draw(st.sampled_from(changes)))
    if where == "before a change":
        return zone, change - timedelta(seconds=draw(st.integers(1, 35 * 3600)))
    return zone, change + timedelta(seconds=draw(st.integers(0, 2 * 3600)))


def expected_fires(matches: Callable[[datetime], bool], zone: ZoneInfo, start: datetime,
                   end: datetime, both: bool) -> list[datetime]:
    """The fire times in (start, end], from a minute-by-minute walk over UTC."""
    # Wider than any clock change, so each wall time's occurrences are all seen.
    margin = timedelta(hours=3)
    minutes = []
    instant = (start - margin).replace(second=0, microsecond=0)
    while instant <= end + margin:
        minutes.append((instant, wall_time(instant, zone)))
        instant += MINUTE
    occurrences: dict[datetime, list[datetime]] = defaultdict(list)
    for instant, wall in minutes:
        occurrences[wall].append(instant)

    fires: set[datetime] = set()
    first_wall = min(wall for _, wall in minutes)
    last_wall = max(wall for _, wall in minutes)
    wall = first_wall
    while wall <= last_wall:
        if matches(wall):
            if wall in occurrences:
                fires.update(occurrences[wall] if both else occurrences[wall][:1])
            else:
                fires.add(instant_the_clock_lands_on_after_skipping(wall, minutes))
        wall += MINUTE
    return sorted(fire for fire in fires if start < fire <= end)


def instant_the_clock_lands_on_after_skipping(wall: datetime,
                                              minutes: list[tuple[datetime, datetime]]
                                              ) -> datetime:
    for (_, before), (instant, after) in zip(minutes, minutes[1:], strict=False):
        if before < wall < after:
            return instant
    raise AssertionError(f"{wall} is neither shown nor skipped by the clock")


def is_clock_change(instant: datetime, zone: ZoneInfo) -> bool:
    before = (instant - timedelta(seconds=1)).astimezone(zone).utcoffset()
    return before != instant.astimezone(zone).utcoffset()


def check_against_brute_force(cron: str, zone: ZoneInfo, start: datetime,
                              repeat: DstRepeat) -> list[datetime]:
    schedule = parse_schedule(cron, zone.key, repeat)
    end = start + WINDOW
    fires = schedule.ticks_between(start, end)

    assert all(earlier < later for earlier, later in zip(fires, fires[1:], strict=False))
    for fire in fires:
        assert fire.tzinfo is UTC
        assert CRONS[cron](wall_time(fire, zone)) or is_clock_change(fire, zone), fire
    assert fires == expected_fires(CRONS[cron], zone, start, end, repeat is DstRepeat.BOTH)

    # Asking one fire at a time, from each fire, gives the same answers.
    chained = []
    after = start
    while len(chained) < CHAINED_FIRES and (after := schedule.next_after(after)) <= end:
        chained.append(after)
    assert chained == fires[:CHAINED_FIRES]
    return fires


@pytest.mark.parametrize("cron", list(CRONS))
@PROPERTY_SETTINGS
@given(zone_and_start())
def test_first_fires_each_wall_time_once_and_loses_none(cron, zone_start):
    zone, start = zone_start
    check_against_brute_force(cron, zone, start, DstRepeat.FIRST)


@pytest.mark.parametrize("cron", list(CRONS))
@PROPERTY_SETTINGS
@given(zone_and_start())
def test_both_fires_every_occurrence_of_a_repeated_wall_time(cron, zone_start):
    zone, start = zone_start
    check_against_brute_force(cron, zone, start, DstRepeat.BOTH)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ZONES), st.integers(2000, 2040))
def test_the_repeated_hour_fires_twice_with_both_and_once_with_first(zone_name, year):
    zone = ZoneInfo(zone_name)
    start_of_year = datetime(year, 1, 1, tzinfo=UTC)
    fall_backs = [noon for noon in clock_changes_near(zone, start_of_year)
                  if noon.astimezone(zone).utcoffset()
                  < (noon - timedelta(days=1)).astimezone(zone).utcoffset()]
    for noon in fall_backs:
        start, end = noon - timedelta(days=1), noon
        repeated_quarters = repeated_wall_times(zone, start, end, step=timedelta(minutes=15))
        assert repeated_quarters, f"no repeated wall time before {noon} in {zone_name}"
        for repeat, times in ((DstRepeat.BOTH, 2), (DstRepeat.FIRST, 1)):
            fires = parse_schedule("*/15 * * * *", zone_name, repeat).ticks_between(start, end)
            walls = [wall_time(fire, zone) for fire in fires]
            for wall in repeated_quarters:
                assert walls.count(wall) == times, (repeat, wall)


def repeated_wall_times(zone: ZoneInfo, start: datetime, end: datetime,
                        step: timedelta) -> list[datetime]:
    """The wall times on `step` boundaries that the clock shows twice in [start, end]."""
    seen: dict[datetime, int] = defaultdict(int)
    instant = start
    while instant <= end:
        seen[wall_time(instant, zone)] += 1
        instant += step
    return [wall for wall, count in seen.items() if count > 1]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, int((LAST_INSTANT - EPOCH).total_seconds() * 1000)),
       st.sampled_from([1, 30, 90, 300, 3600, 5400, 7 * 3600, 86400]),
       st.sampled_from(ZONES))
def test_intervals_fire_on_multiples_of_the_interval_since_the_epoch(millis, seconds,
                                                                     zone_name):
    after = EPOCH + timedelta(milliseconds=millis)
    schedule = parse_schedule(f"every {seconds}s", zone_name)
    fire = schedule.next_after(after)
    assert after < fire <= after + timedelta(seconds=seconds)
    assert (fire - EPOCH) % timedelta(seconds=seconds) == timedelta(0)
