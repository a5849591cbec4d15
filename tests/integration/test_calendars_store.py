"""Business calendars on SQLite, PostgreSQL and MariaDB: the store, the operations, the CLI,
and the dispatcher firing calendar schedules under a fake clock (as test_dispatcher.py)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest

from jobu.calendars import Calendar, OnHoliday
from jobu.clock import FakeClock
from jobu.config import DispatcherConfig
from jobu.dispatcher import Dispatcher
from jobu.errors import InvalidInputError, InvalidStateError, NotFoundError
from jobu.model import CronSpec, ExecutionFilter, Status
from jobu.operations import calendars as calendar_ops
from jobu.operations.crons import CronRules, add_cron, cron_ticks, edit_cron, spec_of

QUIET = {"min_cron_interval_seconds": 1, "max_sleep_seconds": 86400,
         "poll_interval_seconds": 86400, "maintenance_interval_seconds": 86400}
#: Monday 2026-09-21, 12:00 in Seoul.
T0 = datetime(2026, 9, 21, 3, 0, tzinfo=UTC)
CHUSEOK = {date(2026, 9, 24): "Chuseok", date(2026, 9, 25): "Chuseok",
           date(2026, 9, 26): "Chuseok"}


def drive(dispatcher: Dispatcher, clock: FakeClock, until: datetime) -> None:
    for _ in range(10_000):
        delay = dispatcher.run_once(clock.now())
        if clock.now() + timedelta(seconds=delay) > until:
            return
        clock.advance(delay)
    raise AssertionError("the dispatcher never sleeps")


def rows_of(store, job_id: int) -> list:
    items = store.execution_list(ExecutionFilter(job_id=job_id), limit=1000).items
    return sorted(items, key=lambda e: (e.scheduled_time, e.id))


def test_a_calendar_round_trips(store):
    saved = store.calendar_save(Calendar("kr", CHUSEOK, frozenset({6, 7}), "Asia/Seoul",
                                         "Korea"))
    assert saved.holidays == CHUSEOK and saved.timezone == "Asia/Seoul" and saved.version == 1
    again = store.calendar_save(Calendar("kr", {date(2026, 10, 9): "Hangul Day"},
                                         frozenset({5, 6})))
    assert again.version == 2 and again.holidays == {date(2026, 10, 9): "Hangul Day"}
    assert again.weekend == {5, 6} and again.timezone is None
    [listed] = store.calendar_list()
    assert listed["name"] == "kr" and listed["day_count"] == 1
    assert listed["first_day"] == listed["last_day"] == "2026-10-09"
    assert store.calendar_versions() == {"kr": 2}
    store.calendar_delete("kr")
    with pytest.raises(NotFoundError, match="jobu calendar add kr"):
        store.calendar_get("kr")


def test_writers_adding_one_calendar_at_once_all_succeed(store):
    """Two dispatchers applying one calendars.yaml both add its new calendars."""
    writers = 4

    def add(name: str, barrier: threading.Barrier) -> None:
        barrier.wait(timeout=30)
        store.calendar_save(Calendar(name, CHUSEOK, timezone="Asia/Seoul"))

    for round_ in range(15):
        barrier = threading.Barrier(writers)
        with ThreadPoolExecutor(writers) as pool:
            for future in [pool.submit(add, f"kr-{round_}", barrier) for _ in range(writers)]:
                future.result(timeout=60)
        assert store.calendar_get(f"kr-{round_}").holidays == CHUSEOK
    assert len(store.calendar_list()) == 15


def test_operations_add_import_and_refuse_removing_a_used_calendar(store):
    calendar_ops.save_calendar(store, "kr", days=CHUSEOK, timezone="Asia/Seoul")
    calendar_ops.import_days(store, "kr", "date,name\n2026-10-09,Hangul Day\n", "kr.csv")
    calendar_ops.import_days(store, "kr", "2026-12-25: Christmas\n", "kr.yaml")
    assert len(store.calendar_get("kr").holidays) == 5
    spec = spec_of("close", CronRules(), schedule="bd -1 18:00", handler_name="noop",
                   timezone="Asia/Seoul", calendar="kr")
    add_cron(store, spec, CronRules(), FakeClock(T0), force=True)
    with pytest.raises(InvalidStateError, match="used by cron close"):
        calendar_ops.remove_calendar(store, "kr")
    with pytest.raises(NotFoundError, match="jobu calendar add nowhere"):
        add_cron(store, spec_of("x", CronRules(), schedule="0 9 * * *", handler_name="noop",
                                calendar="nowhere"), CronRules(), FakeClock(T0), force=True)
    with pytest.raises(InvalidInputError, match="holidays package"):
        calendar_ops.country_holidays("KR", "2026-2030")


def test_cron_next_explains_the_days_skipped_or_moved(store):
    store.calendar_save(Calendar("kr", CHUSEOK, timezone="Asia/Seoul"))
    spec = spec_of("settle", CronRules(), schedule="0 9 24 * *", handler_name="noop",
                   timezone="Asia/Seoul", calendar="kr", on_holiday="next_business_day")
    assert spec.schedule == "0 9 24 * * calendar kr on_holiday next_business_day"
    cron = add_cron(store, spec, CronRules(), FakeClock(T0), force=True)
    first, second = cron_ticks(store, cron, T0, 2)
    assert (first.outcome, first.at) == ("moved", datetime(2026, 9, 28, 0, tzinfo=UTC))
    assert "Chuseok" in first.reason and "moved to 2026-09-28" in first.reason
    assert (second.outcome, second.at) == ("moved", datetime(2026, 10, 26, 0, tzinfo=UTC))
    # Dropping the calendar with an edit.
    plain = edit_cron(store, "settle", {"calendar": ""}, CronRules(), FakeClock(T0))
    assert plain.schedule == "0 9 24 * *"


def test_the_dispatcher_skips_holidays_and_picks_up_a_changed_calendar(store):
    clock = FakeClock(T0)
    store.calendar_save(Calendar("kr", CHUSEOK, timezone="Asia/Seoul"))
    daily = store.cron_create(CronSpec(name="daily", schedule="0 18 * * * calendar kr",
                                       handler_name="noop", timezone="Asia/Seoul",
                                       allow_overlap=True), now=T0).id
    dispatcher = Dispatcher(store, DispatcherConfig(**QUIET), clock=clock,
                            database_clock=False, listen=False, heartbeat_seconds=86400)
    try:
        drive(dispatcher, clock, datetime(2026, 9, 22, 10, tzinfo=UTC))
        # While the 23rd is planned, it becomes a holiday too.
        calendar_ops.save_calendar(store, "kr", days={date(2026, 9, 23): "Bridge day"},
                                   replace_days=False)
        drive(dispatcher, clock, datetime(2026, 9, 29, 10, tzinfo=UTC))
    finally:
        dispatcher.shutdown(hard_stop=None)
    found = [(row.scheduled_time.astimezone(UTC).day, row.status, row.error_message)
             for row in rows_of(store, daily)]
    assert found == [
        (21, Status.PENDING, None), (22, Status.PENDING, None),
        (23, Status.SKIPPED, "2026-09-23 is a holiday in calendar kr: Bridge day"),
        (24, Status.SKIPPED, "2026-09-24 is a holiday in calendar kr: Chuseok"),
        (25, Status.SKIPPED, "2026-09-25 is a holiday in calendar kr: Chuseok"),
        (26, Status.SKIPPED, "2026-09-26 is a holiday in calendar kr: Chuseok"),
        (27, Status.SKIPPED, "2026-09-27 is a Sunday, not a working day in calendar kr"),
        (28, Status.PENDING, None), (29, Status.PENDING, None)]


def test_the_dispatcher_fires_business_day_schedules_and_moved_ticks(store):
    clock = FakeClock(T0)
    store.calendar_save(Calendar("kr", CHUSEOK, timezone="Asia/Seoul"))
    last = store.cron_create(CronSpec(name="close", schedule="bd -1 18:00 calendar kr",
                                      handler_name="noop", timezone="Asia/Seoul",
                                      allow_overlap=True), now=T0).id
    moved = store.cron_create(CronSpec(
        name="settle", schedule="0 9 25 * * calendar kr on_holiday previous_business_day",
        handler_name="noop", timezone="Asia/Seoul",
                                      allow_overlap=True), now=T0).id
    dispatcher = Dispatcher(store, DispatcherConfig(**QUIET), clock=clock,
                            database_clock=False, listen=False, heartbeat_seconds=86400)
    try:
        drive(dispatcher, clock, datetime(2026, 11, 1, tzinfo=UTC))
    finally:
        dispatcher.shutdown(hard_stop=None)
    assert [r.scheduled_time for r in rows_of(store, last)] == [
        datetime(2026, 9, 30, 9, tzinfo=UTC), datetime(2026, 10, 30, 9, tzinfo=UTC)]
    # The 25th of September is Chuseok (Friday): it runs on Wednesday the 23rd.
    assert [r.scheduled_time for r in rows_of(store, moved)] == [
        datetime(2026, 9, 23, 0, tzinfo=UTC), datetime(2026, 10, 23, 0, tzinfo=UTC)]
    assert {r.status for r in rows_of(store, moved)} == {Status.PENDING}


def test_a_cron_naming_a_missing_calendar_is_not_dispatched_until_it_exists(store, caplog):
    clock = FakeClock(T0)
    job = store.cron_create(CronSpec(name="daily", schedule="0 18 * * * calendar kr",
                                     handler_name="noop", timezone="Asia/Seoul",
                                      allow_overlap=True), now=T0).id
    dispatcher = Dispatcher(store, DispatcherConfig(**QUIET), clock=clock,
                            database_clock=False, listen=False, heartbeat_seconds=86400)
    try:
        dispatcher.run_once(clock.now())
        assert "names calendar 'kr', which does not exist" in caplog.text
        store.calendar_save(Calendar("kr", CHUSEOK, timezone="Asia/Seoul"))
        drive(dispatcher, clock, datetime(2026, 9, 22, 10, tzinfo=UTC))
    finally:
        dispatcher.shutdown(hard_stop=None)
    assert [r.status for r in rows_of(store, job)] == [Status.PENDING, Status.PENDING]


@pytest.mark.parametrize("rule", list(OnHoliday))
def test_the_cli_the_client_and_crons_yaml_write_the_same_schedule(rule):
    from jobu.calendars import compose_schedule
    expected = compose_schedule("0 9 * * 1-5", "kr", rule)
    assert spec_of("a", CronRules(), schedule="0 9 * * 1-5", handler_name="noop",
                   calendar="kr", on_holiday=rule.value).schedule == expected
