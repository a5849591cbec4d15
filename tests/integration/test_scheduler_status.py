"""jobu.operations.status.scheduler_status on every database: the next fire times are the
dispatcher's plan, read along the index of next_tick_at (calendars included), and the crons it
has not planned yet are computed from their schedules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from jobu.clock import FakeClock
from jobu.config import DispatcherConfig
from jobu.dispatcher import Dispatcher
from jobu.model import CronSpec
from jobu.operations.calendars import save_calendar
from jobu.operations.cron_board import CronQuery, cron_page
from jobu.operations.jobs import get_job
from jobu.operations.status import NEXT_FIRES, scheduler_status

QUIET = {"min_cron_interval_seconds": 1, "max_sleep_seconds": 86400,
         "poll_interval_seconds": 86400, "maintenance_interval_seconds": 86400}


def first_weekday_of_next_month(today: date) -> date:
    day = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return day


def plan(store) -> None:
    """One pass of a dispatcher at the real time: every enabled cron gets its next tick."""
    dispatcher = Dispatcher(store, DispatcherConfig(**QUIET), clock=FakeClock(datetime.now(UTC)),
                            database_clock=False, listen=False, heartbeat_seconds=86400)
    try:
        dispatcher.run_once(datetime.now(UTC))
    finally:
        dispatcher.shutdown(hard_stop=None)


def test_next_fires_are_the_planned_ticks_soonest_first(store):
    for minute in range(8):
        store.cron_create(CronSpec(name=f"m{minute}", schedule=f"{minute} 3 * * *",
                                   handler_name="noop"))
    store.cron_create(CronSpec(name="off", schedule="* * * * *", handler_name="noop",
                               is_enabled=False))
    plan(store)

    status = scheduler_status(store)
    assert (status.crons, status.enabled_crons) == (9, 8)
    planned = {cron.name: cron.next_tick_at for cron in store.cron_list()}
    assert [(fire.name, fire.at) for fire in status.next_fires] == [
        (f"m{minute}", planned[f"m{minute}"]) for minute in range(NEXT_FIRES)]


def test_a_next_fire_follows_the_business_calendar(store):
    """A business-day cron whose next first business day is a holiday: the dispatcher plans
    the day after, and the status says so (its schedule read without the calendar would
    name the holiday)."""
    holiday = first_weekday_of_next_month(datetime.now(UTC).date())
    save_calendar(store, "office", days={holiday: "Founders' Day"})
    store.cron_create(CronSpec(name="first-bd", schedule="bd 1 09:00 calendar office",
                               handler_name="noop"))
    plan(store)

    business_day = holiday + timedelta(days=1 if holiday.isoweekday() < 5 else 3)
    expected = datetime.combine(business_day, time(9), tzinfo=UTC)
    assert [(fire.name, fire.at) for fire in scheduler_status(store).next_fires] == [
        ("first-bd", expected)]
    # The same time wherever a cron's next run is shown: Client.get_job and the crons list.
    now = datetime.now(UTC)
    assert get_job(store, "first-bd", now).next_run_time == expected
    [row] = cron_page(store, now, CronQuery()).rows
    assert row.next_fire == expected


def test_crons_not_planned_yet_are_computed_from_their_schedules(store):
    for minute in (5, 10):
        store.cron_create(CronSpec(name=f"new{minute}", schedule=f"*/{minute} * * * *",
                                   handler_name="noop"))
    status = scheduler_status(store)
    assert [fire.name for fire in status.next_fires][:1] in (["new5"], ["new10"])
    now = status.checked_at
    for fire in status.next_fires:
        step = int(fire.name.removeprefix("new"))
        assert fire.at > now and fire.at.minute % step == 0 and fire.at - now <= \
            timedelta(minutes=step)
