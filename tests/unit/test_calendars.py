"""jobu.calendars: business calendars, business-day schedules and on_holiday rules.

Hand-worked tables first (2026-2027, Korean and German holidays typed in below),
then properties against a reference that walks the days one by one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobu.calendars import (
    Calendar,
    OnHoliday,
    check_on_holiday_applies,
    compose_schedule,
    explain,
    parse_calendar_schedule,
    parse_ics,
    parse_weekend,
    split_schedule,
    validate_calendar_schedule,
)
from jobu.errors import InvalidInputError, ScheduleError
from jobu.model import CatchUp, CronJob, CronSpec
from jobu.planning import executions_for, plan_ticks
from jobu.validation import check_cron_spec

#: Public holidays of South Korea, 2026-2027 (substitute days included).
KR = Calendar("kr", {
    date(2026, 1, 1): "New Year's Day", date(2026, 2, 16): "Seollal",
    date(2026, 2, 17): "Seollal", date(2026, 2, 18): "Seollal",
    date(2026, 3, 2): "Independence Movement Day (substitute)",
    date(2026, 5, 5): "Children's Day", date(2026, 5, 25): "Buddha's Birthday (substitute)",
    date(2026, 6, 3): "Local elections", date(2026, 8, 17): "Liberation Day (substitute)",
    date(2026, 9, 24): "Chuseok", date(2026, 9, 25): "Chuseok", date(2026, 9, 26): "Chuseok",
    date(2026, 10, 5): "National Foundation Day (substitute)", date(2026, 10, 9): "Hangul Day",
    date(2026, 12, 25): "Christmas",
    date(2027, 1, 1): "New Year's Day", date(2027, 2, 8): "Seollal",
    date(2027, 2, 9): "Seollal (substitute)", date(2027, 3, 1): "Independence Movement Day",
    date(2027, 5, 5): "Children's Day", date(2027, 5, 13): "Buddha's Birthday",
    date(2027, 8, 16): "Liberation Day (substitute)", date(2027, 9, 14): "Chuseok",
    date(2027, 9, 15): "Chuseok", date(2027, 9, 16): "Chuseok",
    date(2027, 10, 4): "National Foundation Day (substitute)",
    date(2027, 10, 11): "Hangul Day (substitute)", date(2027, 12, 27): "Christmas (substitute)",
}, timezone="Asia/Seoul")

#: German national holidays 2026-2027, and New Year's Eve, a bank holiday.
DE = Calendar("de", {
    date(2026, 1, 1): "Neujahr", date(2026, 4, 3): "Karfreitag",
    date(2026, 4, 6): "Ostermontag", date(2026, 5, 1): "Tag der Arbeit",
    date(2026, 5, 14): "Christi Himmelfahrt", date(2026, 5, 25): "Pfingstmontag",
    date(2026, 10, 3): "Tag der Deutschen Einheit", date(2026, 12, 25): "1. Weihnachtstag",
    date(2026, 12, 26): "2. Weihnachtstag", date(2026, 12, 31): "Silvester (Bankfeiertag)",
    date(2027, 1, 1): "Neujahr", date(2027, 3, 26): "Karfreitag",
    date(2027, 3, 29): "Ostermontag", date(2027, 5, 1): "Tag der Arbeit",
    date(2027, 5, 6): "Christi Himmelfahrt", date(2027, 5, 17): "Pfingstmontag",
    date(2027, 10, 3): "Tag der Deutschen Einheit", date(2027, 12, 25): "1. Weihnachtstag",
    date(2027, 12, 26): "2. Weihnachtstag", date(2027, 12, 31): "Silvester (Bankfeiertag)",
}, timezone="Europe/Berlin")

#: The last business day of each month, worked out by hand from a 2026-2027 wall calendar.
LAST_BUSINESS_DAY = {
    "kr": ["2026-01-30", "2026-02-27", "2026-03-31", "2026-04-30", "2026-05-29", "2026-06-30",
           "2026-07-31", "2026-08-31", "2026-09-30", "2026-10-30", "2026-11-30", "2026-12-31",
           "2027-01-29", "2027-02-26", "2027-03-31", "2027-04-30", "2027-05-31", "2027-06-30",
           "2027-07-30", "2027-08-31", "2027-09-30", "2027-10-29", "2027-11-30", "2027-12-31"],
    # The same, but for New Year's Eve (2026: a Thursday; 2027: a Friday).
    "de": ["2026-01-30", "2026-02-27", "2026-03-31", "2026-04-30", "2026-05-29", "2026-06-30",
           "2026-07-31", "2026-08-31", "2026-09-30", "2026-10-30", "2026-11-30", "2026-12-30",
           "2027-01-29", "2027-02-26", "2027-03-31", "2027-04-30", "2027-05-31", "2027-06-30",
           "2027-07-30", "2027-08-31", "2027-09-30", "2027-10-29", "2027-11-30", "2027-12-30"],
}
CALENDARS = {"kr": KR, "de": DE}


def make_cron(schedule: str, *, last_tick_at: datetime, **fields) -> CronJob:
    return CronJob(name="report", schedule=schedule, handler_name="mail.report", id=7,
                   last_tick_at=last_tick_at, created_at=last_tick_at,
                   updated_at=last_tick_at, **fields)


def local(schedule_times, zone: str) -> list[str]:
    return [t.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") for t in schedule_times]


@pytest.mark.parametrize("name", ["kr", "de"])
def test_the_last_business_day_of_every_month_of_2026_and_2027(name):
    zone = CALENDARS[name].timezone
    schedule = parse_calendar_schedule(f"bd -1 18:00 calendar {name}", zone,
                                       calendar=CALENDARS[name])
    fires = schedule.ticks_between(datetime(2026, 1, 1, tzinfo=UTC),
                                   datetime(2027, 12, 31, 23, tzinfo=UTC))
    assert local(fires, zone) == [f"{day} 18:00" for day in LAST_BUSINESS_DAY[name]]


def test_the_nth_business_day_counts_holidays_out():
    first = parse_calendar_schedule("bd 1 09:00 calendar kr", "Asia/Seoul", calendar=KR)
    third = parse_calendar_schedule("bd 3 09:00 calendar kr", "Asia/Seoul", calendar=KR)
    start = datetime(2026, 9, 15, tzinfo=UTC)
    # October 2026: 1 Thu, 2 Fri, (3-4 weekend), 5 Mon substitute holiday, 6 Tue.
    assert local(first.next_times(start, 3), "Asia/Seoul") == [
        "2026-10-01 09:00", "2026-11-02 09:00", "2026-12-01 09:00"]
    assert local(third.next_times(start, 2), "Asia/Seoul") == [
        "2026-10-06 09:00", "2026-11-04 09:00"]
    # January 2027: 1 Fri holiday, 4 Mon, 5 Tue, 6 Wed.
    assert local(third.next_times(datetime(2026, 12, 15, tzinfo=UTC), 1), "Asia/Seoul") == [
        "2027-01-06 09:00"]


def test_the_fifth_with_next_business_day():
    schedule = parse_calendar_schedule("0 9 5 * * calendar kr on_holiday next_business_day",
                                       "Asia/Seoul", calendar=KR)
    ticks = explain(schedule, datetime(2026, 8, 31, tzinfo=UTC), 4)
    assert [(local([t.at], "Asia/Seoul")[0], t.outcome) for t in ticks] == [
        ("2026-09-07 09:00", "moved"),   # the 5th is a Saturday
        ("2026-10-06 09:00", "moved"),   # the 5th is a substitute holiday (Monday)
        ("2026-11-05 09:00", "run"),
        ("2026-12-07 09:00", "moved"),   # Saturday
    ]
    assert ticks[1].reason == ("2026-10-05 is a holiday in calendar kr: National Foundation "
                               "Day (substitute); moved to 2026-10-06")


def test_a_holiday_on_a_friday_before_a_weekend():
    calendar = Calendar("ops", {date(2026, 7, 31): "Summer closing"})
    start = datetime(2026, 7, 1, tzinfo=UTC)

    def fires(text: str) -> list[str]:
        schedule = parse_calendar_schedule(text, "UTC", calendar=calendar)
        return local(schedule.next_times(start, 2), "UTC")

    assert fires("0 18 31 7 * calendar ops on_holiday next_business_day")[0] == \
        "2026-08-03 18:00"
    assert fires("0 18 31 7 * calendar ops on_holiday previous_business_day")[0] == \
        "2026-07-30 18:00"
    assert fires("bd -1 18:00 calendar ops") == ["2026-07-30 18:00", "2026-08-31 18:00"]
    skipping = parse_calendar_schedule("0 18 * * 1-5 calendar ops", "UTC", calendar=calendar)
    assert skipping.skip_reason(datetime(2026, 7, 31, 18, tzinfo=UTC)) == \
        "2026-07-31 is a holiday in calendar ops: Summer closing"
    assert skipping.skip_reason(datetime(2026, 7, 30, 18, tzinfo=UTC)) is None


def test_a_moved_tick_that_meets_a_tick_of_its_own_fires_once():
    calendar = Calendar("ops", {date(2026, 7, 31): "Summer closing"})
    schedule = parse_calendar_schedule("0 18 * * * calendar ops on_holiday next_business_day",
                                       "UTC", calendar=calendar)
    # Friday 31st, Saturday 1st and Sunday 2nd all move to Monday 3rd 18:00.
    assert local(schedule.next_times(datetime(2026, 7, 30, 19, tzinfo=UTC), 2), "UTC") == [
        "2026-08-03 18:00", "2026-08-04 18:00"]


def test_the_day_of_a_tick_is_its_date_in_the_calendar_zone():
    # 23:00 UTC on Wednesday 2026-09-23 is Thursday 08:00 in Seoul: Chuseok.
    schedule = parse_calendar_schedule("0 23 * * * calendar kr", "UTC", calendar=KR)
    assert "Chuseok" in schedule.skip_reason(datetime(2026, 9, 23, 23, tzinfo=UTC))


def test_the_schedule_suffix_round_trips():
    assert split_schedule("0 9 * * * calendar kr") == ("0 9 * * *", "kr", OnHoliday.SKIP)
    assert split_schedule("bd -1 18:00 calendar de on_holiday previous_business_day") == (
        "bd -1 18:00", "de", OnHoliday.PREVIOUS)
    assert compose_schedule("0 9 * * *", "kr", "next_business_day") == \
        "0 9 * * * calendar kr on_holiday next_business_day"
    assert compose_schedule("0 9 * * * calendar kr on_holiday next_business_day", "de") == \
        "0 9 * * * calendar de on_holiday next_business_day"
    assert compose_schedule("0 9 * * * calendar kr", None, "skip") == "0 9 * * * calendar kr"


@pytest.mark.parametrize(("text", "message"), [
    ("bd 0 09:00", "business day 0"), ("bd 24 09:00", "business day 24"),
    ("bd 1 25:00", "no such time"), ("bd first 09:00", "malformed business-day"),
    ("0 9 * * * on_holiday skip", "no calendar"),
    ("0 9 * * * calendar kr on_holiday sometimes", "unknown on_holiday 'sometimes'"),
    ("every 5m calendar kr", "interval"),
])
def test_bad_calendar_schedules_are_refused_with_the_reason(text, message):
    with pytest.raises(ScheduleError, match=message):
        parse_calendar_schedule(text, "UTC")


def test_on_holiday_on_a_business_day_expression_is_refused_where_a_cron_is_written():
    text = "bd -1 18:00 calendar kr on_holiday next_business_day"
    with pytest.raises(ScheduleError, match="on_holiday has no effect on a business-day "
                                            "expression.*'bd -1 18:00 calendar kr'"):
        check_on_holiday_applies(text)
    with pytest.raises(ScheduleError, match="on_holiday has no effect"):
        check_cron_spec(CronSpec(name="month-end", schedule=text, handler_name="h"),
                        min_interval_seconds=60, now=datetime(2026, 1, 1, tzinfo=UTC),
                        calendar=KR)
    for accepted in ("bd -1 18:00 calendar kr", "bd -1 18:00 calendar kr on_holiday skip",
                     "0 18 * * * calendar kr on_holiday previous_business_day"):
        check_on_holiday_applies(accepted)
    # One stored before the rule was refused is still planned, its rule ignored.
    stored = parse_calendar_schedule(text, "Asia/Seoul", calendar=KR)
    assert local(stored.next_times(datetime(2026, 9, 1, tzinfo=UTC), 1), "Asia/Seoul") == [
        "2026-09-30 18:00"]


def test_the_minimum_interval_of_a_calendar_schedule_is_its_expression():
    with pytest.raises(ScheduleError, match="fires every 60 s"):
        validate_calendar_schedule("* * * * * calendar kr", "UTC", 300, datetime.now(UTC))
    assert validate_calendar_schedule("bd 1 09:00", "UTC", 3600, datetime.now(UTC))


def test_weekends():
    assert parse_weekend("sat,sun") == {6, 7}
    assert parse_weekend("fri,sat") == {5, 6}
    assert parse_weekend("none") == frozenset()
    with pytest.raises(InvalidInputError, match="weekend day 'funday'"):
        parse_weekend("funday")
    gulf = Calendar("gulf", weekend=parse_weekend("fri,sat"))
    schedule = parse_calendar_schedule("bd 1 08:00 calendar gulf", "Asia/Dubai", calendar=gulf)
    # May 2026 begins on a Friday: the first business day is Sunday the 3rd.
    assert local(schedule.next_times(datetime(2026, 4, 15, tzinfo=UTC), 1), "Asia/Dubai") == [
        "2026-05-03 08:00"]


def test_ics_all_day_events():
    text = ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260925\r\n"
            "DTEND;VALUE=DATE:20260927\r\nSUMMARY:Chuseok\r\nEND:VEVENT\r\n"
            "BEGIN:VEVENT\r\nSUMMARY:New Year\\, first\r\n day\r\nDTSTART;VALUE=DATE:20270101\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    assert parse_ics(text) == {date(2026, 9, 25): "Chuseok", date(2026, 9, 26): "Chuseok",
                               date(2027, 1, 1): "New Year, firstday"}
    with pytest.raises(InvalidInputError, match="no all-day DTSTART"):
        parse_ics("BEGIN:VEVENT\nDTSTART:20260101T090000Z\nEND:VEVENT\n")


# --- planning: SKIPPED rows, catch-up ------------------------------------------------------

def test_a_skipped_tick_becomes_a_skipped_row_naming_the_holiday():
    schedule = parse_calendar_schedule("0 18 * * * calendar kr", "Asia/Seoul", calendar=KR)
    cron = make_cron("0 18 * * * calendar kr", timezone="Asia/Seoul",
                     last_tick_at=datetime(2026, 9, 23, 9, 0, tzinfo=UTC))
    now = datetime(2026, 9, 24, 9, 0, 1, tzinfo=UTC)
    plan = plan_ticks(cron, schedule, now)
    rows = executions_for(cron, plan, None)
    assert [(r.scheduled_time, str(r.status), r.error_message) for r in rows] == [
        (datetime(2026, 9, 24, 9, tzinfo=UTC), "SKIPPED",
         "2026-09-24 is a holiday in calendar kr: Chuseok")]
    assert plan.last_tick_at == datetime(2026, 9, 24, 9, tzinfo=UTC)


def test_catch_up_latest_runs_the_latest_business_day_tick():
    schedule = parse_calendar_schedule("0 18 * * * calendar kr", "Asia/Seoul", calendar=KR)
    # Down from Tuesday 22nd to Monday 28th 12:00 (UTC): 23rd ran late, 24-27 are not
    # working days, so the latest late tick that is a business day is Wednesday 23rd.
    cron = make_cron("0 18 * * * calendar kr", timezone="Asia/Seoul", catch_up=CatchUp.LATEST,
                     last_tick_at=datetime(2026, 9, 22, 9, tzinfo=UTC))
    plan = plan_ticks(cron, schedule, datetime(2026, 9, 28, 3, tzinfo=UTC))
    assert plan.run == (datetime(2026, 9, 23, 9, tzinfo=UTC),)
    assert [tick.day for tick, _ in plan.skipped] == [24, 25, 26, 27]
    assert plan.missed is None


# --- properties ---------------------------------------------------------------------------

@st.composite
def calendars(draw):
    start = date(2026, 1, 1)
    offsets = draw(st.sets(st.integers(0, 400), max_size=60))
    weekend = draw(st.sampled_from([{6, 7}, {5, 6}, {7}, set()]))
    return Calendar("c", {start + timedelta(days=k): f"h{k}" for k in offsets},
                    frozenset(weekend))


def business(calendar: Calendar, day: date) -> bool:
    return day not in calendar.holidays and day.isoweekday() not in calendar.weekend


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendars(), st.sampled_from(list(OnHoliday)),
       st.sampled_from(["0 9 * * *", "30 17 * * 1-5", "0 6 1,15 * *"]),
       st.sampled_from(["UTC", "Europe/Berlin", "Asia/Seoul"]))
def test_every_tick_is_accounted_for_by_the_rule(calendar, rule, expression, zone):
    text = compose_schedule(expression, "c", rule)
    schedule = parse_calendar_schedule(text, zone, calendar=calendar)
    start, end = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
    base = parse_calendar_schedule(expression, zone).ticks_between(start - timedelta(days=40),
                                                                    end + timedelta(days=40))
    tz = ZoneInfo(zone)
    expected = set()
    for tick in base:
        day = tick.astimezone(tz).date()
        if business(calendar, day):
            expected.add(tick)
        elif rule is OnHoliday.SKIP:
            expected.add(tick)  # recorded SKIPPED at its own time
        else:
            step = 1 if rule is OnHoliday.NEXT else -1
            target = day + timedelta(days=step)
            while not business(calendar, target):
                target += timedelta(days=step)
            wall = tick.astimezone(tz).replace(tzinfo=None) + (target - day)
            expected.add(wall.replace(tzinfo=tz).astimezone(UTC))
    found = schedule.ticks_between(start, end)
    assert found == sorted(t for t in expected if start < t <= end)
    for tick in found:
        reason = schedule.skip_reason(tick)
        assert (reason is None) == business(calendar, tick.astimezone(tz).date())
    # One at a time gives the same.
    chained, after = [], start
    while (after := schedule.next_after(after)) is not None and after <= end:
        chained.append(after)
    assert chained == found


@settings(max_examples=40, deadline=None)
@given(calendars(), st.sampled_from([1, 2, 5, -1, -3]), st.sampled_from(["UTC", "Asia/Seoul"]))
def test_the_nth_business_day_against_a_day_by_day_walk(calendar, n, zone):
    schedule = parse_calendar_schedule(f"bd {n} 10:00 calendar c", zone, calendar=calendar)
    found = local(schedule.ticks_between(datetime(2026, 1, 1, tzinfo=UTC),
                                         datetime(2027, 1, 1, tzinfo=UTC)), zone)
    expected = []
    for month in range(1, 13):
        days = [date(2026, month, 1) + timedelta(days=k) for k in range(31)]
        days = [d for d in days if d.month == month and business(calendar, d)]
        if len(days) >= abs(n):
            expected.append(f"{days[n - 1 if n > 0 else n]} 10:00")
    assert found == expected
