"""The Python scheduling API's translations: APScheduler fields, intervals and dates to the
schedule text jobu stores, handlers given as functions, and triggers in words. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from jobu.errors import InvalidInputError
from jobu.handlers import handler
from jobu.operations.handler_refs import handler_name_of
from jobu.operations.jobs import describe_trigger
from jobu.operations.triggers import (
    cron_expression,
    date_expression,
    interval_expression,
    interval_words,
)
from jobu.schedule import parse_schedule


@handler("nightly_backup")
def backup(ctx, params):
    return None


def undecorated(ctx, params):
    return None


@pytest.mark.parametrize(("fields", "expected"), [
    ({"hour": 3, "minute": 0}, "0 3 * * *"),
    ({"hour": 2}, "0 2 * * *"),  # less significant fields take their minimum
    ({"day_of_week": "sun", "hour": 3}, "0 3 * * sun"),
    ({"day_of_week": "mon-fri"}, "0 0 * * mon-fri"),
    ({"minute": "*/30"}, "*/30 * * * *"),  # more significant fields are *
    ({"month": 6}, "0 0 1 6 *"),
    ({"day": "last", "hour": 23, "minute": 30}, "30 23 L * *"),
    ({"second": 10}, "* * * * * 10"),
    ({"hour": 9, "second": 30}, "* 9 * * * 30"),
])
def test_apscheduler_fields_become_a_cron_expression(fields, expected):
    assert cron_expression(**fields) == expected
    parse_schedule(expected)  # and jobu reads it


def test_the_expression_wins_alone_and_goes_through_unchanged():
    assert cron_expression("0 3 * * 0") == "0 3 * * 0"
    assert cron_expression("@daily", minute=None, hour=None) == "@daily"


@pytest.mark.parametrize(("expression", "fields", "says"), [
    (None, {}, "a cron job needs a schedule"),
    ("0 3 * * *", {"hour": 3}, "give either expression or cron fields, not both"),
    (None, {"day_of_week": 6}, "numbers are refused because APScheduler counts Monday as 0"),
    (None, {"day_of_week": "0-4"}, "write day names"),
    (None, {"hour": 1.5}, "cron field hour must be a number or a string"),
    (None, {"hour": True}, "cron field hour must be a number or a string"),
    (None, {"minute": "0 5"}, "has a space"),
    (None, {"minute": ""}, "cron field minute is empty"),
])
def test_cron_fields_that_cannot_be_meant_are_refused(expression, fields, says):
    with pytest.raises(InvalidInputError, match=says):
        cron_expression(expression, **fields)


def test_day_of_week_steps_keep_their_digits():
    assert cron_expression(day_of_week="mon-sun/2") == "0 0 * * mon-sun/2"


@pytest.mark.parametrize(("parts", "expected"), [
    ({"minutes": 5}, "every 5m"),
    ({"minutes": 30}, "every 30m"),
    ({"minutes": 90}, "every 1h30m"),
    ({"hours": 1, "seconds": 5}, "every 1h5s"),
    ({"weeks": 1}, "every 7d"),
    ({"days": 0.5}, "every 12h"),
])
def test_intervals_become_every_expressions(parts, expected):
    assert interval_expression(**parts) == expected
    assert parse_schedule(expected).min_interval_seconds(datetime.now(UTC)) > 0


def test_an_interval_with_a_start_fires_at_the_start_and_every_interval_after():
    start = datetime(2030, 1, 1, 8, 15, tzinfo=UTC)
    text = interval_expression(minutes=30, start=start)
    assert text == "every 30m from 2030-01-01T08:15:00+00:00"
    schedule = parse_schedule(text)
    assert schedule.next_times(datetime(2029, 1, 1, tzinfo=UTC), 3) == [
        start, start + timedelta(minutes=30), start + timedelta(minutes=60)]
    assert schedule.next_after(start + timedelta(minutes=31)) == start + timedelta(minutes=60)


def test_a_start_without_an_offset_is_wall_time_in_the_jobs_zone():
    text = interval_expression(hours=1, start=datetime(2030, 7, 1, 3, 0))
    schedule = parse_schedule(text, "Europe/Berlin")
    assert schedule.next_after(datetime(2030, 1, 1, tzinfo=UTC)) == datetime(
        2030, 7, 1, 1, 0, tzinfo=UTC)


def test_an_interval_without_a_start_still_counts_from_the_epoch():
    schedule = parse_schedule("every 30m")
    assert schedule.next_after(datetime(2030, 1, 1, 8, 1, tzinfo=UTC)) == datetime(
        2030, 1, 1, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(("parts", "says"), [
    ({}, "an interval job needs a length"),
    ({"minutes": -5}, "minutes must be a number of 0 or more, got -5"),
    ({"seconds": 1.5}, "the interval must be a whole number of seconds, got 1.5 s"),
    ({"hours": float("nan")}, "hours must be a number of 0 or more"),
    ({"minutes": "5"}, "minutes must be a number of 0 or more, got '5'"),
    ({"minutes": 5, "start": "2030-01-01"}, "start must be a datetime, got str"),
])
def test_intervals_that_cannot_run_are_refused(parts, says):
    with pytest.raises(InvalidInputError, match=says):
        interval_expression(**parts)


def test_dates_become_one_shot_schedules():
    at = datetime(2030, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    assert parse_schedule(date_expression(at)).next_after(datetime(2029, 1, 1, tzinfo=UTC)) \
        == datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
    assert date_expression(date(2030, 1, 1)) == "2030-01-01T00:00:00"
    assert date_expression("2030-01-01 09:00") == "2030-01-01 09:00"
    assert date_expression("tomorrow") == "at tomorrow"
    with pytest.raises(InvalidInputError, match="run_date must be a datetime"):
        date_expression(1893456000)


def test_a_decorated_function_gives_its_handler_name():
    assert handler_name_of(backup) == "nightly_backup"
    assert handler_name_of("any_name") == "any_name"


def test_lambdas_closures_and_unmarked_functions_are_refused_with_the_reason():
    @handler("inner")
    def inner(ctx, params):
        return None

    with pytest.raises(InvalidInputError, match="a lambda cannot be a job's handler: a "
                                                "scheduled job is stored in the database and "
                                                "outlives this process"):
        handler_name_of(lambda ctx, params: None)
    with pytest.raises(InvalidInputError, match="is defined inside a function"):
        handler_name_of(inner)
    with pytest.raises(InvalidInputError, match=r"undecorated is not marked with @handler.*"
                                                r"decorate it with @handler"):
        handler_name_of(undecorated)
    with pytest.raises(InvalidInputError, match="got int"):
        handler_name_of(42)


def test_triggers_in_words():
    assert describe_trigger(parse_schedule("0 3 * * sun", "Europe/Berlin")) == \
        "cron '0 3 * * sun' in Europe/Berlin"
    assert describe_trigger(parse_schedule("every 5m")) == "every 5 minutes"
    assert describe_trigger(parse_schedule("every 1h30m")) == "every 1 hour and 30 minutes"
    assert describe_trigger(parse_schedule("every 1d1h1m1s")) == \
        "every 1 day, 1 hour, 1 minute and 1 second"
    assert describe_trigger(parse_schedule("every 1h from 2030-01-01T03:00:00Z",
                                           "Europe/Berlin")) == \
        "every 1 hour from 2030-01-01T04:00:00+01:00"
    assert describe_trigger(parse_schedule("2030-07-01T03:00:00Z", "Europe/Berlin")) == \
        "once at 2030-07-01T05:00:00+02:00"
    assert interval_words(60) == "1 minute"


def test_an_interval_start_that_is_not_a_time_is_refused_naming_it():
    from jobu.errors import ScheduleError
    with pytest.raises(ScheduleError, match="malformed ISO 8601 time 'noon'"):
        parse_schedule("every 1h from noon")
    with pytest.raises(ScheduleError, match="unknown interval unit 'x'"):
        parse_schedule("every 5x from 2030-01-01T00:00:00Z")
