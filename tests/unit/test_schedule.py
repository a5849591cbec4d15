"""jobu.schedule: hand-worked fire times, validation messages and the API's edges.

Every expected time below was worked out by hand from the calendar and the 2026
daylight-saving rules, not computed by the code under test:

* Europe/Berlin: CET +01:00 / CEST +02:00. Spring forward Sun 2026-03-29 at 01:00 UTC
  (02:00 CET -> 03:00 CEST); fall back Sun 2026-10-25 at 01:00 UTC (03:00 CEST -> 02:00
  CET, so 02:00-02:59 occurs twice).
* America/New_York: EST -05:00 / EDT -04:00. Spring forward Sun 2026-03-08 at 07:00 UTC
  (02:00 EST -> 03:00 EDT); fall back Sun 2026-11-01 at 06:00 UTC (02:00 EDT -> 01:00
  EST, so 01:00-01:59 occurs twice).
* Australia/Lord_Howe: LHST +10:30 / LHDT +11:00, a 30-minute shift. Fall back Sun
  2026-04-05 at 02:00 LHDT = 2026-04-04 15:00 UTC (01:30-01:59 occurs twice); spring
  forward Sun 2026-10-04 at 02:00 LHST = 2026-10-03 15:30 UTC (02:00-02:29 is missing).
* Asia/Kolkata: IST +05:30 all year.
* 2026-01-01 is a Thursday; 2026-02-01, 2026-03-01 are Sundays; 2026-04-01 a Wednesday.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from jobu.errors import ScheduleError
from jobu.model import DstRepeat
from jobu.schedule import (
    CronSchedule,
    IntervalSchedule,
    OneShotSchedule,
    Schedule,
    parse_schedule,
    validate_schedule,
    validate_timezone,
)

FIRST = DstRepeat.FIRST
BOTH = DstRepeat.BOTH
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
LORD_HOWE = "Australia/Lord_Howe"
KOLKATA = "Asia/Kolkata"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def utc(text: str) -> datetime:
    """A UTC instant written as 'YYYY-MM-DD HH:MM[:SS]'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def case(expression, tz, after, expected, repeat=FIRST):
    name = f"{expression} {tz} {repeat.value} after {after}"
    return pytest.param(expression, tz, repeat, utc(after), [utc(t) for t in expected], id=name)


CRON_UTC = [
    case("*/15 * * * *", "UTC", "2026-01-01 00:07",
         ["2026-01-01 00:15", "2026-01-01 00:30", "2026-01-01 00:45", "2026-01-01 01:00"]),
    case("0 0 * * *", "UTC", "2026-02-27 12:00",
         ["2026-02-28 00:00", "2026-03-01 00:00", "2026-03-02 00:00"]),
    case("0 0 * * *", "UTC", "2026-02-28 00:00",  # strictly after: not 02-28 itself
         ["2026-03-01 00:00", "2026-03-02 00:00"]),
    case("* * * * * */10", "UTC", "2026-01-01 00:00:05",
         ["2026-01-01 00:00:10", "2026-01-01 00:00:20", "2026-01-01 00:00:30",
          "2026-01-01 00:00:40"]),
    case("30 * * * * 15", "UTC", "2026-01-01 00:00",
         ["2026-01-01 00:30:15", "2026-01-01 01:30:15"]),
    case("0,30 9 * * * 0,30", "UTC", "2026-01-01 00:00",
         ["2026-01-01 09:00:00", "2026-01-01 09:00:30", "2026-01-01 09:30:00",
          "2026-01-01 09:30:30", "2026-01-02 09:00:00"]),
    case("30 4 1,15 * *", "UTC", "2026-01-15 04:30",
         ["2026-02-01 04:30", "2026-02-15 04:30", "2026-03-01 04:30"]),
    case("0 9 * * mon-fri", "UTC", "2026-01-02 10:00",
         ["2026-01-05 09:00", "2026-01-06 09:00", "2026-01-07 09:00", "2026-01-08 09:00",
          "2026-01-09 09:00", "2026-01-12 09:00"]),
    case("0 0 * * fri-mon", "UTC", "2026-01-01 00:00",
         ["2026-01-02 00:00", "2026-01-03 00:00", "2026-01-04 00:00", "2026-01-05 00:00",
          "2026-01-09 00:00"]),
    case("0 0 1 jan,jul *", "UTC", "2026-03-01 00:00",
         ["2026-07-01 00:00", "2027-01-01 00:00", "2027-07-01 00:00"]),
    case("15 10 1 JAN-MAY/2 *", "UTC", "2026-01-01 12:00",
         ["2026-03-01 10:15", "2026-05-01 10:15", "2027-01-01 10:15"]),
    # Both day fields restricted: either one matching is enough.
    case("0 12 1 * mon", "UTC", "2026-03-25 00:00",
         ["2026-03-30 12:00", "2026-04-01 12:00", "2026-04-06 12:00"]),
    case("0 0 L * *", "UTC", "2026-01-31 00:00",
         ["2026-02-28 00:00", "2026-03-31 00:00", "2026-04-30 00:00"]),
    case("0 0 31 * *", "UTC", "2026-01-31 00:00",
         ["2026-03-31 00:00", "2026-05-31 00:00", "2026-07-31 00:00", "2026-08-31 00:00"]),
    case("0 0 29 2 *", "UTC", "2026-01-01 00:00", ["2028-02-29 00:00", "2032-02-29 00:00"]),
    case("0 0 * * 5#2", "UTC", "2026-01-01 00:00",
         ["2026-01-09 00:00", "2026-02-13 00:00", "2026-03-13 00:00"]),
    case("0 0 * * L5", "UTC", "2026-01-01 00:00",
         ["2026-01-30 00:00", "2026-02-27 00:00", "2026-03-27 00:00"]),
    case("0 8-18/5 * * *", "UTC", "2026-01-01 00:00",
         ["2026-01-01 08:00", "2026-01-01 13:00", "2026-01-01 18:00", "2026-01-02 08:00"]),
    case("0 22-2 * * *", "UTC", "2026-01-01 03:00",
         ["2026-01-01 22:00", "2026-01-01 23:00", "2026-01-02 00:00", "2026-01-02 01:00",
          "2026-01-02 02:00", "2026-01-02 22:00"]),
    case("0 12 * * 7", "UTC", "2026-01-01 00:00", ["2026-01-04 12:00", "2026-01-11 12:00"]),
    # croniter 7.0 reads "7-7" as every day; it is Sunday.
    case("0 12 * * 7-7", "UTC", "2026-01-01 00:00", ["2026-01-04 12:00", "2026-01-11 12:00"]),
    case("@hourly", "UTC", "2026-01-01 00:00", ["2026-01-01 01:00", "2026-01-01 02:00"]),
    case("@daily", "UTC", "2026-01-01 00:00", ["2026-01-02 00:00", "2026-01-03 00:00"]),
    case("@midnight", "UTC", "2026-01-01 00:00", ["2026-01-02 00:00", "2026-01-03 00:00"]),
    case("@weekly", "UTC", "2026-01-01 00:00", ["2026-01-04 00:00", "2026-01-11 00:00"]),
    case("@monthly", "UTC", "2026-01-01 00:00", ["2026-02-01 00:00", "2026-03-01 00:00"]),
    case("@yearly", "UTC", "2026-01-01 00:00", ["2027-01-01 00:00", "2028-01-01 00:00"]),
    case("@annually", "UTC", "2026-01-01 00:00", ["2027-01-01 00:00", "2028-01-01 00:00"]),
]

CRON_KOLKATA = [
    case("30 2 * * *", KOLKATA, "2026-03-28 21:00", ["2026-03-29 21:00", "2026-03-30 21:00"]),
    case("0 0 * * *", KOLKATA, "2026-01-01 00:00", ["2026-01-01 18:30", "2026-01-02 18:30"]),
    case("0 * * * *", KOLKATA, "2026-01-01 00:00", ["2026-01-01 00:30", "2026-01-01 01:30"]),
]

BERLIN_SPRING = [
    case("0 * * * *", BERLIN, "2026-03-28 23:00",
         ["2026-03-29 00:00", "2026-03-29 01:00", "2026-03-29 02:00", "2026-03-29 03:00"]),
    # 02:00 is missing and 03:00 CEST is the same instant: one fire at 01:00 UTC.
    case("0 * * * *", BERLIN, "2026-03-29 00:00",
         ["2026-03-29 01:00", "2026-03-29 02:00", "2026-03-29 03:00"]),
    case("0 * * * *", BERLIN, "2026-03-29 01:00", ["2026-03-29 02:00"]),
    case("0 * * * *", BERLIN, "2026-03-29 00:00",
         ["2026-03-29 01:00", "2026-03-29 02:00", "2026-03-29 03:00"], BOTH),
    case("0 3 * * *", BERLIN, "2026-03-27 12:00",
         ["2026-03-28 02:00", "2026-03-29 01:00", "2026-03-30 01:00"]),
    case("30 2 * * *", BERLIN, "2026-03-27 12:00",
         ["2026-03-28 01:30", "2026-03-29 01:00", "2026-03-30 00:30"]),
    case("30 2 * * *", BERLIN, "2026-03-27 12:00",
         ["2026-03-28 01:30", "2026-03-29 01:00", "2026-03-30 00:30"], BOTH),
    case("*/15 2 * * *", BERLIN, "2026-03-28 12:00",
         ["2026-03-29 01:00", "2026-03-30 00:00", "2026-03-30 00:15"]),
    case("*/30 2-3 * * *", BERLIN, "2026-03-29 00:00",
         ["2026-03-29 01:00", "2026-03-29 01:30", "2026-03-30 00:00"]),
    # The seconds of a missing wall time do not survive the gap: 03:00:00 CEST.
    case("30 2 * * * 15", BERLIN, "2026-03-28 12:00",
         ["2026-03-29 01:00:00", "2026-03-30 00:30:15"]),
]

BERLIN_FALL = [
    case("0 * * * *", BERLIN, "2026-10-24 22:30",
         ["2026-10-24 23:00", "2026-10-25 00:00", "2026-10-25 02:00", "2026-10-25 03:00"]),
    case("0 * * * *", BERLIN, "2026-10-24 22:30",
         ["2026-10-24 23:00", "2026-10-25 00:00", "2026-10-25 01:00", "2026-10-25 02:00",
          "2026-10-25 03:00"], BOTH),
    # `after` in the first pass of the repeated hour (02:30 CEST) ...
    case("0 * * * *", BERLIN, "2026-10-25 00:30", ["2026-10-25 02:00", "2026-10-25 03:00"]),
    case("0 * * * *", BERLIN, "2026-10-25 00:30", ["2026-10-25 01:00", "2026-10-25 02:00"],
         BOTH),
    # ... and in the second pass (02:15 CET).
    case("0 * * * *", BERLIN, "2026-10-25 01:15", ["2026-10-25 02:00", "2026-10-25 03:00"]),
    case("0 * * * *", BERLIN, "2026-10-25 01:15", ["2026-10-25 02:00", "2026-10-25 03:00"],
         BOTH),
    case("*/30 2 * * *", BERLIN, "2026-10-25 00:15",
         ["2026-10-25 00:30", "2026-10-26 01:00", "2026-10-26 01:30"]),
    case("*/30 2 * * *", BERLIN, "2026-10-25 00:15",
         ["2026-10-25 00:30", "2026-10-25 01:00", "2026-10-25 01:30", "2026-10-26 01:00"],
         BOTH),
    case("0 3 * * *", BERLIN, "2026-10-23 12:00",
         ["2026-10-24 01:00", "2026-10-25 02:00", "2026-10-26 02:00"]),
    case("0 3 * * *", BERLIN, "2026-10-23 12:00",
         ["2026-10-24 01:00", "2026-10-25 02:00", "2026-10-26 02:00"], BOTH),
    case("30 2 * * *", BERLIN, "2026-10-24 12:00", ["2026-10-25 00:30", "2026-10-26 01:30"]),
    case("30 2 * * *", BERLIN, "2026-10-24 12:00",
         ["2026-10-25 00:30", "2026-10-25 01:30", "2026-10-26 01:30"], BOTH),
]

NEW_YORK_SPRING = [
    case("0 * * * *", NEW_YORK, "2026-03-08 05:30",
         ["2026-03-08 06:00", "2026-03-08 07:00", "2026-03-08 08:00", "2026-03-08 09:00"]),
    case("0 * * * *", NEW_YORK, "2026-03-08 05:30",
         ["2026-03-08 06:00", "2026-03-08 07:00", "2026-03-08 08:00", "2026-03-08 09:00"],
         BOTH),
    case("30 2 * * *", NEW_YORK, "2026-03-07 00:00",
         ["2026-03-07 07:30", "2026-03-08 07:00", "2026-03-09 06:30"]),
    case("0 3 * * *", NEW_YORK, "2026-03-07 00:00",
         ["2026-03-07 08:00", "2026-03-08 07:00", "2026-03-09 07:00"]),
]

NEW_YORK_FALL = [
    case("0 * * * *", NEW_YORK, "2026-11-01 03:30",
         ["2026-11-01 04:00", "2026-11-01 05:00", "2026-11-01 07:00", "2026-11-01 08:00"]),
    case("0 * * * *", NEW_YORK, "2026-11-01 03:30",
         ["2026-11-01 04:00", "2026-11-01 05:00", "2026-11-01 06:00", "2026-11-01 07:00",
          "2026-11-01 08:00"], BOTH),
    case("30 1 * * *", NEW_YORK, "2026-10-31 12:00", ["2026-11-01 05:30", "2026-11-02 06:30"]),
    case("30 1 * * *", NEW_YORK, "2026-10-31 12:00",
         ["2026-11-01 05:30", "2026-11-01 06:30", "2026-11-02 06:30"], BOTH),
    case("30 1 * * *", NEW_YORK, "2026-11-01 06:00", ["2026-11-01 06:30", "2026-11-02 06:30"],
         BOTH),
    case("30 2 * * *", NEW_YORK, "2026-10-30 12:00",
         ["2026-10-31 06:30", "2026-11-01 07:30", "2026-11-02 07:30"]),
    case("30 2 * * *", NEW_YORK, "2026-10-30 12:00",
         ["2026-10-31 06:30", "2026-11-01 07:30", "2026-11-02 07:30"], BOTH),
    case("0 3 * * *", NEW_YORK, "2026-10-30 12:00",
         ["2026-10-31 07:00", "2026-11-01 08:00", "2026-11-02 08:00"]),
]

LORD_HOWE_CASES = [
    # Fall back by 30 minutes: 01:30-01:59 occurs twice.
    case("*/30 * * * *", LORD_HOWE, "2026-04-04 13:45",
         ["2026-04-04 14:00", "2026-04-04 14:30", "2026-04-04 15:30", "2026-04-04 16:00"]),
    case("*/30 * * * *", LORD_HOWE, "2026-04-04 13:45",
         ["2026-04-04 14:00", "2026-04-04 14:30", "2026-04-04 15:00", "2026-04-04 15:30"],
         BOTH),
    case("0 * * * *", LORD_HOWE, "2026-04-04 12:00",
         ["2026-04-04 13:00", "2026-04-04 14:00", "2026-04-04 15:30", "2026-04-04 16:30"]),
    # Spring forward by 30 minutes: 02:00-02:29 is missing.
    case("0 * * * *", LORD_HOWE, "2026-10-03 14:00",
         ["2026-10-03 14:30", "2026-10-03 15:30", "2026-10-03 16:00"]),
    case("30 2 * * *", LORD_HOWE, "2026-10-03 00:00", ["2026-10-03 15:30", "2026-10-04 15:30"]),
    case("15 2 * * *", LORD_HOWE, "2026-10-03 00:00", ["2026-10-03 15:30", "2026-10-04 15:15"]),
    case("0 3 * * *", LORD_HOWE, "2026-10-02 00:00",
         ["2026-10-02 16:30", "2026-10-03 16:00", "2026-10-04 16:00"]),
]

INTERVALS = [
    case("every 5m", "UTC", "2026-01-01 00:07:30",
         ["2026-01-01 00:10", "2026-01-01 00:15", "2026-01-01 00:20"]),
    case("every 5m", "UTC", "2026-01-01 00:10", ["2026-01-01 00:15"]),
    case("every 5 minutes", BERLIN, "2026-01-01 00:07:30", ["2026-01-01 00:10"]),
    case("every 90s", "UTC", "2026-01-01 00:00",
         ["2026-01-01 00:01:30", "2026-01-01 00:03:00", "2026-01-01 00:04:30"]),
    case("every 1h30m", "UTC", "2026-01-01 00:00",
         ["2026-01-01 01:30", "2026-01-01 03:00", "2026-01-01 04:30"]),
    case("every 1h 30 min", "UTC", "2026-01-01 00:00", ["2026-01-01 01:30"]),
    case("every 7h", "UTC", "2026-01-01 00:00",
         ["2026-01-01 07:00", "2026-01-01 14:00", "2026-01-01 21:00", "2026-01-02 04:00"]),
    case("every 2 hours", "UTC", "2026-01-01 01:00", ["2026-01-01 02:00", "2026-01-01 04:00"]),
    case("every 1d", BERLIN, "2026-03-28 12:00", ["2026-03-29 00:00", "2026-03-30 00:00"]),
    case("every 1 day", BERLIN, "2026-03-28 12:00", ["2026-03-29 00:00"]),
    case("every 1h", KOLKATA, "2026-01-01 00:10", ["2026-01-01 01:00", "2026-01-01 02:00"]),
    # The time zone's fall-back hour does not bend an interval.
    case("every 5m", NEW_YORK, "2026-11-01 05:58", ["2026-11-01 06:00", "2026-11-01 06:05"],
         BOTH),
]

ONE_SHOTS = [
    case("2026-12-01T03:00:00+01:00", "UTC", "2026-11-30 00:00", ["2026-12-01 02:00"]),
    case("2026-12-01T03:00:00Z", BERLIN, "2026-11-30 00:00", ["2026-12-01 03:00"]),
    case("at 2026-12-01 03:00", BERLIN, "2026-11-30 00:00", ["2026-12-01 02:00"]),
    case("AT 2026-12-01T03:00", NEW_YORK, "2026-11-30 00:00", ["2026-12-01 08:00"]),
    case("2026-12-01 03:00", KOLKATA, "2026-11-30 00:00", ["2026-11-30 21:30"]),
    case("2026-12-01 03:00", LORD_HOWE, "2026-11-30 00:00", ["2026-11-30 16:00"]),
    case("2026-03-29 02:30", BERLIN, "2026-03-01 00:00", ["2026-03-29 01:00"]),
    case("2026-10-25 02:30", BERLIN, "2026-10-01 00:00", ["2026-10-25 00:30"]),
    # A one-shot fires once, even where BOTH would repeat a cron.
    case("2026-10-25 02:30", BERLIN, "2026-10-01 00:00", ["2026-10-25 00:30"], BOTH),
]


@pytest.mark.parametrize(
    ("expression", "tz", "repeat", "after", "expected"),
    CRON_UTC + CRON_KOLKATA + BERLIN_SPRING + BERLIN_FALL + NEW_YORK_SPRING + NEW_YORK_FALL
    + LORD_HOWE_CASES + INTERVALS + ONE_SHOTS,
)
def test_next_times_match_the_hand_worked_table(expression, tz, repeat, after, expected):
    schedule = parse_schedule(expression, tz, repeat)
    # Ask for one more than expected where the schedule runs out (one-shots).
    assert schedule.next_times(after, len(expected))[: len(expected)] == expected
    assert schedule.next_after(after) == expected[0]


def test_fire_times_are_aware_utc_whatever_zone_the_question_uses():
    schedule = parse_schedule("0 3 * * *", BERLIN)
    after = datetime(2026, 3, 28, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    fire = schedule.next_after(after)
    assert fire == utc("2026-03-29 01:00")
    assert fire.tzinfo is UTC


def test_next_after_from_an_aware_local_time_in_the_repeated_hour_uses_the_instant():
    berlin = validate_timezone(BERLIN)
    second_0215 = datetime(2026, 10, 25, 2, 15, tzinfo=berlin, fold=1)  # 01:15 UTC
    first_0215 = datetime(2026, 10, 25, 2, 15, tzinfo=berlin, fold=0)  # 00:15 UTC
    hourly = parse_schedule("0 * * * *", BERLIN, BOTH)
    assert hourly.next_after(second_0215) == utc("2026-10-25 02:00")
    assert hourly.next_after(first_0215) == utc("2026-10-25 01:00")


# --- parsing: what comes back -----------------------------------------------------------


@pytest.mark.parametrize(("expression", "cls", "kind"), [
    ("0 3 * * *", CronSchedule, "cron"),
    ("* * * * * */10", CronSchedule, "cron"),
    ("@daily", CronSchedule, "cron"),
    ("every 5m", IntervalSchedule, "interval"),
    ("at 2026-12-01 03:00", OneShotSchedule, "once"),
    ("2026-12-01T03:00:00+01:00", OneShotSchedule, "once"),
])
def test_parse_schedule_returns_the_kind_of_the_expression(expression, cls, kind):
    schedule = parse_schedule(f"  {expression} ", BERLIN)
    assert isinstance(schedule, cls)
    assert isinstance(schedule, Schedule)
    assert schedule.kind == kind
    assert schedule.expression == expression
    assert schedule.timezone == BERLIN


def test_interval_and_one_shot_keep_what_they_parsed():
    assert parse_schedule("every 1h30m").seconds == 5400
    assert parse_schedule("every 1 day").seconds == 86400
    assert parse_schedule("at 2026-12-01 03:00", BERLIN).at == utc("2026-12-01 02:00")


def test_dst_repeat_may_be_given_by_its_value():
    assert parse_schedule("0 * * * *", BERLIN, "both").dst_repeat is BOTH


def test_schedules_with_the_same_text_are_equal():
    assert parse_schedule("0 3 * * *", BERLIN) == parse_schedule("0 3 * * *", BERLIN)
    assert parse_schedule("0 3 * * *", BERLIN) != parse_schedule("0 3 * * *", BERLIN, BOTH)


# --- validation messages ----------------------------------------------------------------


@pytest.mark.parametrize(("expression", "message"), [
    ("0 25 * * *", "field 'hour' out of range 0-23 in '0 25 * * *'"),
    ("60 * * * *", "field 'minute' out of range 0-59 in '60 * * * *'"),
    ("0 0 0 * *", "field 'day of month' out of range 1-31 in '0 0 0 * *'"),
    ("0 0 * 13 *", "field 'month' out of range 1-12 in '0 0 * 13 *'"),
    ("0 0 * * 8", "field 'day of week' out of range 0-7 in '0 0 * * 8'"),
    ("* * * * * 60", "field 'second' out of range 0-59 in '* * * * * 60'"),
    ("* * * *", "expected 5 or 6 fields, got 4 in '* * * *'"),
    ("* * * * * * *", "expected 5 or 6 fields, got 7 in '* * * * * * *'"),
    ("*/0 * * * *", "field 'minute': '*/0' has a zero step in '*/0 * * * *'"),
    ("0 1-5/0 * * *", "field 'hour': '1-5/0' has a zero step in '0 1-5/0 * * *'"),
    ("*/x * * * *", "field 'minute': the step in '*/x' is not a whole number in '*/x * * * *'"),
    ("*/90 * * * *", "field 'minute': the step in '*/90' is larger than the range 0-59, "
                     "so it would only ever be 0, in '*/90 * * * *'"),
    ("0 0 * foo *", "field 'month': 'foo' is not a number or a month name in '0 0 * foo *'"),
    ("0 0 * * funday", "field 'day of week': 'funday' is not a number or a day name "
                       "in '0 0 * * funday'"),
    ("H * * * *", "field 'minute': 'H' is not a number in 'H * * * *'"),
    ("-5 * * * *", "field 'minute': '-5' is not a number in '-5 * * * *'"),
    ("0 L * * *", "field 'hour': 'L' is not a number in '0 L * * *'"),
    ("0 0 15W * *", "field 'day of month': '15W' is not a number in '0 0 15W * *'"),
    ("0 ? * * *", "field 'hour': '?' is not a number in '0 ? * * *'"),
    ("1,,2 * * * *", "field 'minute': '1,,2' has an empty list item in '1,,2 * * * *'"),
    ("0 22-2/2 * * *", "field 'hour': '22-2/2' wraps around and has a step; write it as two "
                       "ranges in '0 22-2/2 * * *'"),
    ("0 0 * * 5#6", "field 'day of week': '5#6' asks for week '6' of the month; weeks are 1-5 "
                    "in '0 0 * * 5#6'"),
    ("0 0 30 2 *", "'0 0 30 2 *' never fires: none of its months has a day 30"),
    ("0 0 31 4,6,9,11 *", "'0 0 31 4,6,9,11 *' never fires: none of its months has a day 31"),
    ("@reboot", "unknown macro '@reboot'; use one of @hourly, @daily, @midnight, @weekly, "
                "@monthly, @yearly, @annually"),
    ("every 5 fortnights", "unknown interval unit 'fortnights' in 'every 5 fortnights'; use "
                           "s, m, h or d (seconds, minutes, hours, days)"),
    ("every 5", "malformed interval in 'every 5'; write a number and a unit, e.g. 'every 90s', "
                "'every 5m', 'every 2h', 'every 1d', 'every 1h30m'"),
    ("every", "malformed interval in 'every'; write a number and a unit, e.g. 'every 90s', "
              "'every 5m', 'every 2h', 'every 1d', 'every 1h30m'"),
    ("every 1.5h", "malformed interval in 'every 1.5h'; write a number and a unit, e.g. "
                   "'every 90s', 'every 5m', 'every 2h', 'every 1d', 'every 1h30m'"),
    ("every 0s", "the interval must be longer than 0 s in 'every 0s'"),
    ("every 1h 2h", "interval unit 'h' is given twice in 'every 1h 2h'"),
    ("every 36600d", "the interval in 'every 36600d' is longer than 100 years"),
    ("at 2026-13-01 03:00", "malformed ISO 8601 time '2026-13-01 03:00' in "
                            "'at 2026-13-01 03:00' (month must be in 1..12); write e.g. "
                            "'2026-12-01T03:00:00+01:00' or '2026-12-01 03:00'"),
    ("at tomorrow", "malformed ISO 8601 time 'tomorrow' in 'at tomorrow'; write e.g. "
                    "'2026-12-01T03:00:00+01:00' or '2026-12-01 03:00'"),
    ("2026-12-01", "'2026-12-01' has a date but no time of day; write e.g. "
                   "'2026-12-01T03:00:00+01:00' or '2026-12-01 03:00'"),
    ("", "the schedule is empty; write a cron expression such as '0 3 * * *', an interval "
         "such as 'every 5m' or a time such as '2026-12-01T03:00:00+01:00'"),
])
def test_bad_expressions_are_refused_with_a_message_that_names_the_problem(expression,
                                                                          message):
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(expression)
    assert str(raised.value) == message


@pytest.mark.parametrize("name", ["Europe/Pariss", "Mars/Olympus_Mons", "../etc/passwd",
                                  "Europe"])
def test_unknown_time_zones_are_refused(name):
    with pytest.raises(ScheduleError) as raised:
        validate_timezone(name)
    assert str(raised.value) == f"unknown time zone '{name}'"
    with pytest.raises(ScheduleError, match="unknown time zone"):
        parse_schedule("0 3 * * *", name)


def test_an_empty_time_zone_is_refused():
    with pytest.raises(ScheduleError, match="the time zone is empty"):
        validate_timezone("")


def test_validate_timezone_returns_the_zone():
    assert str(validate_timezone(BERLIN)) == BERLIN


def test_an_unknown_dst_repeat_is_refused():
    with pytest.raises(ScheduleError) as raised:
        parse_schedule("0 * * * *", BERLIN, "twice")
    assert str(raised.value) == "unknown dst_repeat 'twice'; use 'auto', 'first' or 'both'"


@pytest.mark.parametrize("expression", [
    "0 0 * * ?", "0 0 ? * mon", "0 0 1,L * *", "0 0 * * 1#1", "0 0 * * mon#1", "0 0 * * L7",
    "0 0 * * sun-7", "0 0 * * 0-7/2", "5/15 * * * *", "0 0 30 2 mon", "0 0 * * 5#2,5#4",
])
def test_croniter_extensions_both_versions_share_are_accepted(expression):
    assert parse_schedule(expression).next_after(NOW) is not None


def test_either_day_field_restricts_when_both_are_given():
    # Day of month 30 never comes in February, but Mondays do.
    schedule = parse_schedule("0 0 30 2 mon")
    assert schedule.next_times(NOW, 3) == [utc("2026-02-02 00:00"), utc("2026-02-09 00:00"),
                                           utc("2026-02-16 00:00")]


# --- minimum interval -------------------------------------------------------------------


def test_a_cron_firing_every_10_seconds_is_refused_at_a_60_second_minimum():
    with pytest.raises(ScheduleError) as raised:
        validate_schedule("* * * * * */10", "UTC", 60, NOW)
    assert str(raised.value) == ("'* * * * * */10' fires every 10 s; the minimum is 60 s "
                                 "(min_cron_interval_seconds in dispatcher.yaml)")


def test_a_cron_firing_every_10_seconds_is_accepted_at_a_5_second_minimum():
    schedule = validate_schedule("* * * * * */10", "UTC", 5, NOW)
    assert schedule.kind == "cron"


def test_an_interval_of_30_seconds_is_refused_at_a_60_second_minimum():
    with pytest.raises(ScheduleError) as raised:
        validate_schedule("every 30s", "UTC", 60, NOW)
    assert str(raised.value) == ("'every 30s' fires every 30 s; the minimum is 60 s "
                                 "(min_cron_interval_seconds in dispatcher.yaml)")


def test_every_minute_passes_a_60_second_minimum_and_one_shots_always_pass():
    assert validate_schedule("* * * * *", "UTC", 60, NOW).kind == "cron"
    assert validate_schedule("every 1m", "UTC", 60, NOW).kind == "interval"
    assert validate_schedule("at 2026-12-01 03:00", BERLIN, 3600, NOW).kind == "once"


def test_validate_schedule_passes_parse_errors_on():
    with pytest.raises(ScheduleError, match="out of range"):
        validate_schedule("0 25 * * *", "UTC", 60, NOW)


@pytest.mark.parametrize(("expression", "tz", "after", "seconds"), [
    ("* * * * *", "UTC", "2026-01-01 00:00", 60),
    ("*/15 * * * *", "UTC", "2026-01-01 00:00", 900),
    ("0 9,17 * * *", "UTC", "2026-01-01 00:00", 8 * 3600),
    ("0 0 * * *", "UTC", "2026-01-01 00:00", 86400),
    ("0 0 1 * *", "UTC", "2026-01-01 00:00", 28 * 86400),  # 02-01 -> 03-01
    # Two fires a minute apart once a month are found though they are far apart.
    ("0,1 0 1 * *", "UTC", "2026-01-15 00:00", 60),
    ("* * * * * */10", "UTC", "2026-01-01 00:00", 10),
    ("every 2h", "UTC", "2026-01-01 00:00", 7200),
    # The expression is judged, not the night asked about: across Berlin's
    # spring-forward night 02:30 fires at 03:00 CEST, 30 min before 03:30, but that
    # gap-end tick does not count against the minimum (issue 14).
    ("30 2,3 * * *", BERLIN, "2026-03-28 12:00", 3600),
])
def test_min_interval_seconds(expression, tz, after, seconds):
    assert parse_schedule(expression, tz).min_interval_seconds(utc(after)) == seconds


def test_min_interval_of_a_one_shot_is_none():
    assert parse_schedule("at 2026-12-01 03:00").min_interval_seconds(NOW) is None


# --- ticks_between, the end of a one-shot, naive datetimes --------------------------------


def test_ticks_between_excludes_the_start_and_includes_the_end():
    hourly = parse_schedule("0 * * * *")
    assert hourly.ticks_between(utc("2026-01-01 01:00"), utc("2026-01-01 04:00")) == [
        utc("2026-01-01 02:00"), utc("2026-01-01 03:00"), utc("2026-01-01 04:00")]


def test_ticks_between_stops_at_the_limit():
    hourly = parse_schedule("0 * * * *")
    start, end = utc("2026-01-01 01:00"), utc("2026-01-01 04:00")
    assert hourly.ticks_between(start, end, limit=2) == [utc("2026-01-01 02:00"),
                                                         utc("2026-01-01 03:00")]
    assert hourly.ticks_between(start, end, limit=0) == []


def test_ticks_between_an_empty_or_reversed_range_is_empty():
    hourly = parse_schedule("0 * * * *")
    assert hourly.ticks_between(utc("2026-01-01 02:00"), utc("2026-01-01 02:00")) == []
    assert hourly.ticks_between(utc("2026-01-01 02:30"), utc("2026-01-01 02:59")) == []
    assert hourly.ticks_between(utc("2026-01-01 04:00"), utc("2026-01-01 01:00")) == []


def test_ticks_between_accepts_bounds_in_any_zone():
    plus_two = timezone(timedelta(hours=2))
    hourly = parse_schedule("0 * * * *")
    ticks = hourly.ticks_between(datetime(2026, 1, 1, 3, 0, tzinfo=plus_two),
                                 datetime(2026, 1, 1, 5, 0, tzinfo=plus_two))
    assert ticks == [utc("2026-01-01 02:00"), utc("2026-01-01 03:00")]
    assert all(tick.tzinfo is UTC for tick in ticks)


def test_ticks_between_across_berlin_fall_back_with_both():
    hourly = parse_schedule("0 * * * *", BERLIN, BOTH)
    assert hourly.ticks_between(utc("2026-10-24 23:00"), utc("2026-10-25 02:00")) == [
        utc("2026-10-25 00:00"), utc("2026-10-25 01:00"), utc("2026-10-25 02:00")]


def test_ticks_between_for_intervals_and_one_shots():
    every_5m = parse_schedule("every 5m")
    assert every_5m.ticks_between(utc("2026-01-01 00:00"), utc("2026-01-01 00:12")) == [
        utc("2026-01-01 00:05"), utc("2026-01-01 00:10")]
    once = parse_schedule("2026-12-01T03:00:00Z")
    assert once.ticks_between(utc("2026-12-01 02:00"), utc("2026-12-01 03:00")) == [
        utc("2026-12-01 03:00")]
    assert once.ticks_between(utc("2026-12-01 03:00"), utc("2026-12-02 00:00")) == []


def test_a_one_shot_has_no_next_time_once_it_has_passed():
    once = parse_schedule("2026-12-01T03:00:00Z")
    assert once.next_after(utc("2026-12-01 02:59:59")) == utc("2026-12-01 03:00")
    assert once.next_after(utc("2026-12-01 03:00")) is None
    assert once.next_after(utc("2027-01-01 00:00")) is None
    assert once.next_times(utc("2026-12-01 03:00"), 5) == []
    assert once.next_times(utc("2026-01-01 00:00"), 5) == [utc("2026-12-01 03:00")]


def test_next_times_with_n_zero_is_empty_and_negative_n_is_refused():
    hourly = parse_schedule("0 * * * *")
    assert hourly.next_times(NOW, 0) == []
    with pytest.raises(ValueError):
        hourly.next_times(NOW, -1)
    with pytest.raises(ValueError):
        hourly.ticks_between(NOW, NOW + timedelta(hours=5), limit=-1)


def test_fractions_of_a_second_in_after_are_respected():
    every_second = parse_schedule("* * * * * *")
    assert every_second.next_after(utc("2026-01-01 00:00:00.5")) == utc("2026-01-01 00:00:01")
    every_5m = parse_schedule("every 5m")
    assert every_5m.next_after(utc("2026-01-01 00:04:59.999999")) == utc("2026-01-01 00:05")


NAIVE = datetime(2026, 1, 1, 12, 0)


@pytest.mark.parametrize("expression", ["0 * * * *", "every 5m", "2026-12-01T03:00:00Z"])
def test_naive_datetimes_are_refused(expression):
    schedule = parse_schedule(expression)
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.next_after(NAIVE)
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.next_times(NAIVE, 3)
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.ticks_between(NAIVE, NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.ticks_between(NOW, NAIVE)
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.min_interval_seconds(NAIVE)
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_schedule(expression, "UTC", 60, NAIVE)


def test_a_schedule_near_the_end_of_the_calendar_runs_out_quietly():
    assert parse_schedule("0 0 1 1 *").next_after(utc("9999-06-01 00:00")) is None
    assert parse_schedule("every 1d").next_times(utc("9999-12-30 00:00"), 5) == [
        utc("9999-12-31 00:00")]
