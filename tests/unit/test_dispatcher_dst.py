"""The dispatcher across daylight-saving transitions: exactly one row per tick.

A fake clock drives the dispatcher over a window that contains a clock change, in
zones with every kind of change (whole hours, half hours, southern hemisphere),
2000-2040, while it sleeps from tick to tick, sometimes wakes late (within the
grace) and is sometimes restarted. The rows it leaves must be exactly the instants
the rules of issue 3 give: each wall time that occurs fires once at its first
occurrence (or at both with dst_repeat: both), and each wall time the clock skips
fires once, at the instant the clock lands on; with dst_repeat: auto (issue 14) the
wildcard crons (hourly, quarter-hourly) fire at both occurrences instead and not at
all for a skipped wall time. Those instants come from a reference
written here that knows nothing of jobu.schedule: it walks UTC minute by minute and
asks zoneinfo for each minute's wall time. SQLite on tmp files; the same code path
runs on every database in tests/integration.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobu.clock import FakeClock
from jobu.config import DispatcherConfig
from jobu.dispatcher import Dispatcher
from jobu.model import CronSpec, DatabaseSpec, DstRepeat, ExecutionFilter, Status
from jobu.store import open_store

ZONES = ["Europe/Berlin", "Europe/London", "America/New_York", "America/Santiago",
         "America/St_Johns", "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Chatham",
         "Asia/Tehran", "America/Havana"]
#: Hourly, daily, a daily time inside the usual clock-change hour, and every quarter hour.
CRONS = {"hourly": "0 * * * *", "daily": "0 3 * * *", "in-the-gap": "30 2 * * *",
         "quarterly-hours": "*/15 * * * *"}
#: The wall times each of them matches, written independently of the cron syntax.
MATCHES = {
    "hourly": lambda wall: wall.minute == 0,
    "daily": lambda wall: (wall.hour, wall.minute) == (3, 0),
    "in-the-gap": lambda wall: (wall.hour, wall.minute) == (2, 30),
    "quarterly-hours": lambda wall: wall.minute % 15 == 0,
}
#: The crons with ``*`` in their minute or hour field (jobu.schedule's "wildcard").
WILDCARD = {"hourly", "quarterly-hours"}
MINUTE = timedelta(minutes=1)
WINDOW = timedelta(hours=36)
SETTINGS = DispatcherConfig(max_sleep_seconds=86400, poll_interval_seconds=86400,
                            maintenance_interval_seconds=86400)


def transition_in(zone: ZoneInfo, year: int, first: bool) -> datetime | None:
    """The instant of the first (or last) offset change of `zone` in `year`, if any."""
    day = timedelta(days=1)
    noons = [datetime(year, 1, 1, 12, tzinfo=UTC) + n * day for n in range(366)]
    changes = [noon for before, noon in zip(noons, noons[1:], strict=False)
               if before.astimezone(zone).utcoffset() != noon.astimezone(zone).utcoffset()]
    if not changes:
        return None
    noon = changes[0] if first else changes[-1]
    low, high = int((noon - day).timestamp()), int(noon.timestamp())
    offset_before = datetime.fromtimestamp(low, zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def rules_of(name: str, repeat: DstRepeat) -> tuple[bool, bool]:
    """(fires both passes of a repeated hour, fires after a gap) for a cron of CRONS."""
    if repeat is DstRepeat.AUTO:
        return name in WILDCARD, name not in WILDCARD
    return repeat is DstRepeat.BOTH, True


def reference_fires(matches, zone_name: str, start: datetime, end: datetime,
                    both: bool, catch_up: bool = True) -> list[datetime]:
    """The instants in (start, end] a cron matching `matches` fires at, by brute force."""
    zone = ZoneInfo(zone_name)
    instants = []
    instant = (start - timedelta(hours=3)).replace(second=0, microsecond=0)
    while instant <= end + timedelta(hours=3):
        instants.append((instant, instant.astimezone(zone).replace(tzinfo=None)))
        instant += MINUTE
    shown: dict[datetime, list[datetime]] = {}
    for instant, wall in instants:
        shown.setdefault(wall, []).append(instant)
    fires = set()
    wall, last_wall = min(shown), max(shown)
    while wall <= last_wall:
        if matches(wall):
            if wall in shown:
                fires.update(shown[wall] if both else shown[wall][:1])
            elif catch_up:  # skipped by the clock: fires where the clock lands after the gap
                fires.add(next(i for (_, before), (i, after) in zip(instants, instants[1:],
                                                                    strict=False)
                               if before < wall < after))
        wall += MINUTE
    return sorted(fire for fire in fires if start < fire <= end)


@st.composite
def scenarios(draw):
    zone = draw(st.sampled_from(ZONES))
    year = draw(st.integers(2000, 2040))
    change = transition_in(ZoneInfo(zone), year, draw(st.booleans()))
    if change is None:  # a zone that stopped changing its clocks
        change = datetime(year, 6, 1, tzinfo=UTC)
    start = change - timedelta(seconds=draw(st.integers(3600, 30 * 3600)))
    repeat = draw(st.sampled_from(list(DstRepeat)))
    # Some passes wake late (but within the grace); some restart the dispatcher.
    lateness = draw(st.lists(st.floats(0, 50), min_size=0, max_size=20))
    restarts = draw(st.sets(st.integers(0, 200), max_size=3))
    return zone, start, repeat, lateness, restarts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_one_row_per_tick_across_clock_changes(scenario):
    zone, start, repeat, lateness, restarts = scenario
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(DatabaseSpec(name="jobs", driver="sqlite",
                                        path=str(Path(folder) / "jobs.db")))
        try:
            store.migrate()
            check_one_row_per_tick(store, zone, start, repeat, lateness, restarts)
        finally:
            store.close()


def check_one_row_per_tick(store, zone, start, repeat, lateness, restarts) -> None:
    clock = FakeClock(start)
    ids = {name: store.cron_create(CronSpec(name=name, schedule=expression, timezone=zone,
                                            dst_repeat=repeat, handler_name="noop",
                                            allow_overlap=True), now=start).id
           for name, expression in CRONS.items()}
    end = start + WINDOW

    def new_dispatcher() -> Dispatcher:
        return Dispatcher(store, SETTINGS, clock=clock, listen=False, database_clock=False,
                          heartbeat_seconds=86400)

    dispatcher = new_dispatcher()
    for passes in range(5000):
        if passes in restarts:
            dispatcher.shutdown(hard_stop=None)
            dispatcher = new_dispatcher()
        delay = dispatcher.run_once(clock.now())
        if clock.now() + timedelta(seconds=delay) > end:
            break
        late = lateness[passes % len(lateness)] if lateness else 0.0
        clock.advance(delay + (late if passes % 3 == 0 else 0.0))
    dispatcher.shutdown(hard_stop=None)

    for name in CRONS:
        expected = reference_fires(MATCHES[name], zone, start, clock.now(),
                                   *rules_of(name, repeat))
        rows = store.execution_list(ExecutionFilter(job_id=ids[name]), limit=1000).items
        rows.sort(key=lambda row: row.scheduled_time)
        assert [row.scheduled_time for row in rows] == expected, (name, zone, repeat)
        assert {row.status for row in rows} <= {Status.PENDING}, (name, zone)
        assert all(timedelta(0) <= row.created_at - row.scheduled_time <= timedelta(seconds=60)
                   for row in rows)


def test_berlin_spring_forward_and_fall_back_by_the_rules():
    """The two nights of 2026 in Europe/Berlin, spelled out."""
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(DatabaseSpec(name="jobs", driver="sqlite",
                                        path=str(Path(folder) / "jobs.db")))
        try:
            store.migrate()
            spring = datetime(2026, 3, 28, 12, tzinfo=UTC)
            check_one_row_per_tick(store, "Europe/Berlin", spring, DstRepeat.FIRST, [], set())
            gap = store.cron_get("in-the-gap")
            rows = store.execution_list(ExecutionFilter(job_id=gap.id)).items
            # 02:30 does not exist on 2026-03-29: it fires at 03:00 CEST, 01:00 UTC.
            assert [r.scheduled_time for r in rows] == [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)]
        finally:
            store.close()
        store = open_store(DatabaseSpec(name="jobs", driver="sqlite",
                                        path=str(Path(folder) / "autumn.db")))
        try:
            store.migrate()
            autumn = datetime(2026, 10, 24, 12, tzinfo=UTC)
            check_one_row_per_tick(store, "Europe/Berlin", autumn, DstRepeat.BOTH, [], set())
            repeated = store.cron_get("in-the-gap")
            rows = store.execution_list(ExecutionFilter(job_id=repeated.id)).items
            # 02:30 happens twice on 2026-10-25; with dst_repeat: both, it fires twice.
            assert sorted(r.scheduled_time for r in rows) == [
                datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30,
                                                                    tzinfo=UTC)]
        finally:
            store.close()
        store = open_store(DatabaseSpec(name="jobs", driver="sqlite",
                                        path=str(Path(folder) / "autumn-first.db")))
        try:
            store.migrate()
            check_one_row_per_tick(store, "Europe/Berlin", autumn, DstRepeat.FIRST, [], set())
            hourly = store.cron_get("hourly")
            night = [r.scheduled_time for r in
                     store.execution_list(ExecutionFilter(job_id=hourly.id), limit=100).items
                     if datetime(2026, 10, 24, 23, tzinfo=UTC) <= r.scheduled_time
                     <= datetime(2026, 10, 25, 2, tzinfo=UTC)]
            # 02:00 CEST (00:00 UTC), then 03:00 CET (02:00 UTC): the repeated 02:00 CET
            # (01:00 UTC) does not fire with dst_repeat: first.
            assert sorted(night) == [datetime(2026, 10, 24, 23, tzinfo=UTC),
                                     datetime(2026, 10, 25, 0, tzinfo=UTC),
                                     datetime(2026, 10, 25, 2, tzinfo=UTC)]
        finally:
            store.close()
