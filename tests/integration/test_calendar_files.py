"""calendars.yaml applied to the database (jobu.operations.calendar_files), on every dialect.

Added, updated (the crons naming it planned again), left alone when unchanged; removed when
it left the files and no cron names it, kept and unmarked when one does; applied by the
dispatcher at start and on reload before crons.yaml, a bad file on reload keeping the
calendars as they were; a calendar from a file refused by `jobu calendar add`, `import` and
`remove` and by the Client, naming the file.
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
import yaml

from jobu import Client
from jobu.calendars import Calendar
from jobu.cli import main
from jobu.clock import FakeClock
from jobu.config import load_config
from jobu.daemon import Daemon
from jobu.dispatcher import Dispatcher
from jobu.errors import CalendarManagedByFileError
from jobu.operations.calendar_files import apply_calendar_files
from jobu.operations.crons import cron_ticks
from jobu.systemd import Notifier
from tests.conftest import spec_url

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "etc" / "jobu"
T0 = datetime(2026, 9, 21, 3, 0, tzinfo=UTC)
KR = {"timezone": "Asia/Seoul", "description": "Korea",
      "days": [{"date": "2026-09-24", "name": "Chuseok"},
               {"date": "2026-09-25", "name": "Chuseok"}]}


@pytest.fixture
def config_dir(tmp_path, db_spec, monkeypatch) -> Path:
    directory = tmp_path / "etc-jobu"
    directory.mkdir()
    for shipped in SHIPPED_CONFIG.glob("*.yaml"):
        shutil.copy(shipped, directory / shipped.name)
    (directory / "dispatcher.yaml").write_text("min_cron_interval_seconds: 1\n")
    for name in ("JOBU_CONFIG_DIR", "JOBU_DATABASE_URL", "JOBU_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBU_DATABASE_URL", spec_url(db_spec))
    monkeypatch.setenv("JOBU_STATE_DIR", str(tmp_path / "state"))
    return directory


def write_calendars(path: Path, **calendars: dict) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump({"calendars": calendars}))


def write_crons(path: Path, **crons: dict) -> None:
    path.write_text(yaml.safe_dump({"crons": crons}))


def apply(store, config_dir: Path):
    return apply_calendar_files(store, load_config(config_dir, with_crons=True).calendars)


def test_added_updated_unchanged_and_removed(store, config_dir):
    write_calendars(config_dir / "calendars.yaml", kr=KR)
    write_calendars(config_dir / "calendars.d" / "gulf.yaml", gulf={"weekend": "fri,sat"})

    first = apply(store, config_dir)

    assert (sorted(first.added), first.updated, first.removed) == (["gulf", "kr"], [], [])
    assert store.calendar_get("kr") == Calendar(
        "kr", {date(2026, 9, 24): "Chuseok", date(2026, 9, 25): "Chuseok"},
        timezone="Asia/Seoul", description="Korea", version=1)
    assert store.calendar_managed() == {
        "gulf": str(config_dir / "calendars.d" / "gulf.yaml"),
        "kr": str(config_dir / "calendars.yaml")}

    again = apply(store, config_dir)
    assert sorted(again.unchanged) == ["gulf", "kr"]
    assert store.calendar_versions() == {"gulf": 1, "kr": 1}  # left alone entirely

    write_calendars(config_dir / "calendars.yaml", kr={**KR, "weekend": "none"})
    (config_dir / "calendars.d" / "gulf.yaml").unlink()
    changed = apply(store, config_dir)
    assert (changed.updated, changed.removed) == (["kr"], ["gulf"])
    assert store.calendar_get("kr").weekend == frozenset()
    assert sorted(store.calendar_versions()) == ["kr"]


def test_a_changed_calendar_plans_again_the_crons_naming_it(store, config_dir):
    # A cron is planned from when it was stored, by the database's clock: the holidays are
    # the days ahead of today, whose ticks move past them to the first business day.
    today = datetime.now(UTC).date()
    closed = {"weekend": "none", "timezone": "UTC", "days": [
        {"date": (today + timedelta(days=n)).isoformat(), "name": "closed"} for n in range(5)]}
    write_calendars(config_dir / "calendars.yaml", ops=closed)
    write_crons(config_dir / "crons.yaml", close={
        "schedule": "0 18 * * *", "handler": "noop", "timezone": "UTC",
        "calendar": "ops", "on_holiday": "next_business_day"})
    config = load_config(config_dir, with_crons=True)
    clock = FakeClock(T0)
    dispatcher = Dispatcher(store, config.dispatcher, listen=False, database_clock=False,
                            clock=clock, cron_files=config.crons,
                            calendar_files=config.calendars)
    dispatcher.run_once(clock.now())  # the calendar first: the cron names it
    cron = store.cron_get("close")
    assert cron.next_tick_at == datetime.combine(today + timedelta(days=5), time(18), UTC)

    write_calendars(config_dir / "calendars.yaml", ops={**closed, "days": []})
    daemon = Daemon(dispatcher, clock=clock, notifier=Notifier(),
                    load_config=lambda: load_config(config_dir, with_crons=True))
    daemon._reload()  # what SIGHUP does
    assert store.cron_get("close").next_tick_at == cron.next_tick_at  # at the next pass
    dispatcher.run_once(clock.now())

    replanned = store.cron_get("close")
    start = replanned.last_tick_at or replanned.updated_at or replanned.created_at
    [first] = cron_ticks(store, replanned.spec, start, 1)
    assert replanned.next_tick_at == first.at < cron.next_tick_at
    assert replanned.version == cron.version  # the cron itself did not change


def test_a_bad_file_on_reload_keeps_the_calendars_as_they_were(store, config_dir, caplog):
    write_calendars(config_dir / "calendars.yaml", kr=KR)
    config = load_config(config_dir, with_crons=True)
    clock = FakeClock(T0)
    dispatcher = Dispatcher(store, config.dispatcher, listen=False, database_clock=False,
                            clock=clock, calendar_files=config.calendars)
    dispatcher.run_once(clock.now())
    (config_dir / "calendars.yaml").write_text(
        "calendars:\n  kr:\n    weekend: funday\n")
    daemon = Daemon(dispatcher, clock=clock, notifier=Notifier(),
                    load_config=lambda: load_config(config_dir, with_crons=True))

    with caplog.at_level(logging.ERROR):
        daemon._reload()
        dispatcher.run_once(clock.now())

    assert "reload refused: calendars.yaml: calendars.kr.weekend (line 3)" in caplog.text
    kept = store.calendar_get("kr")
    assert (kept.weekend, len(kept.holidays), kept.version) == (frozenset({6, 7}), 2, 1)


def test_a_calendar_that_left_the_file_is_kept_while_a_cron_names_it(store, config_dir,
                                                                     caplog):
    write_calendars(config_dir / "calendars.yaml", kr=KR)
    apply(store, config_dir)
    with Client(database_url=spec_url(store.database.spec)) as client:
        client.add_cron_job("noop", "close", expression="bd -1 18:00", calendar="kr",
                            force=True)
    write_calendars(config_dir / "calendars.yaml")

    with caplog.at_level(logging.WARNING):
        applied = apply(store, config_dir)

    assert (applied.removed, applied.kept) == ([], {"kr": ["close"]})
    assert "calendar kr left the calendar files but is kept: cron close still names it" in (
        caplog.text)
    assert store.calendar_managed() == {}
    assert "kr" in store.calendar_versions()
    assert apply(store, config_dir).kept == {}  # no file manages it any more


def test_a_managed_calendar_is_refused_by_the_cli_and_the_client(store, config_dir, capsys,
                                                                   tmp_path):
    write_calendars(config_dir / "calendars.yaml", kr=KR)
    apply(store, config_dir)
    source = str(config_dir / "calendars.yaml")
    days = tmp_path / "days.csv"
    days.write_text("2026-10-09,Hangul Day\n")

    for argv in (["add", "kr", "--day", "2026-10-03"], ["add", "kr", "--country", "KR",
                                                         "--years", "2026"],
                 ["import", "kr", str(days)], ["remove", "kr"]):
        capsys.readouterr()
        assert main(["--config-dir", str(config_dir), "calendar", *argv]) == 1, argv
        assert (f"calendar 'kr' is managed by {source}: change or remove it there"
                in capsys.readouterr().err), argv
    assert main(["--config-dir", str(config_dir), "calendar", "show", "kr"]) == 0
    assert source in capsys.readouterr().out

    with Client(database_url=spec_url(store.database.spec)) as client:
        with pytest.raises(CalendarManagedByFileError, match=source):
            client.add_calendar("kr", days={"2026-10-03": "Foundation Day"})
        with pytest.raises(CalendarManagedByFileError):
            client.remove_calendar("kr")
    assert store.calendar_versions() == {"kr": 1}


def test_a_country_the_holidays_package_cannot_give_is_refused_not_fatal(store, config_dir):
    write_calendars(config_dir / "calendars.yaml", kr=KR,
                    de={"country": "DE", "years": "2026-2027"})
    applied = apply(store, config_dir)
    assert applied.added == ["kr"]
    # the sentence of `jobu calendar add --country` (the holidays package is not installed
    # in the test environments)
    assert "holidays package" in applied.refused["de"]
