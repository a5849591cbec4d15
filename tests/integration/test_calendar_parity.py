"""The same calendar schedule from the CLI, the Python API and calendars.yaml + crons.yaml
gives the same rows, on every dialect.

One business calendar (a weekend, a few holidays, a zone) and two crons that follow it (the
last business day of each month, "bd -1 18:00", and a monthly tick moved off non-working
days, on_holiday next_business_day) are declared three times under three names: with
`jobu calendar add/import` and `jobu cron add` (in this process), with jobu.Client, and in
the files the dispatcher applies (jobu.operations.calendar_files, then cron_files). The
stored calendars and crons are the same field for field, and so are their planned ticks
(jobu.operations.crons.cron_ticks) over the next months.
"""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from jobu import Client
from jobu.cli import main
from jobu.clock import SystemClock
from jobu.config import load_config
from jobu.errors import InvalidInputError
from jobu.operations.calendar_files import apply_calendar_files
from jobu.operations.cron_files import apply_cron_files
from jobu.operations.crons import CronRules, cron_ticks
from tests.conftest import spec_url

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "etc" / "jobu"
#: Monday 2026-09-21 in Seoul; the ticks compared run to the middle of 2027.
T0 = datetime(2026, 9, 21, 3, 0, tzinfo=UTC)
DAYS = {date(2026, 9, 24): "Chuseok", date(2026, 9, 25): "Chuseok",
        date(2026, 10, 9): "Hangul Day", date(2026, 12, 31): "Year-end closing",
        date(2027, 2, 26): "Closing day"}
CRONS = {  # name -> (expression, on_holiday)
    "payroll": ("bd -1 18:00", None),
    "settle": ("0 9 24 * *", "next_business_day"),
}


@pytest.fixture
def config_dir(tmp_path, db_spec, monkeypatch) -> Path:
    directory = tmp_path / "etc-jobu"
    directory.mkdir()
    for shipped in SHIPPED_CONFIG.glob("*.yaml"):
        shutil.copy(shipped, directory / shipped.name)
    for name in ("JOBU_CONFIG_DIR", "JOBU_DATABASE_URL", "JOBU_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBU_DATABASE_URL", spec_url(db_spec))
    monkeypatch.setenv("JOBU_STATE_DIR", str(tmp_path / "state"))
    return directory


def declare_by_cli(config_dir: Path, tmp_path: Path) -> None:
    def jobu(*argv: str) -> None:
        assert main(["--config-dir", str(config_dir), *argv]) == 0, argv

    first, *rest = sorted(DAYS.items())
    jobu("calendar", "add", "kr-cli", "--day", f"{first[0]}={first[1]}", "--timezone",
         "Asia/Seoul", "--weekend", "sat,sun", "--description", "Korea and closing days")
    days = tmp_path / "days.csv"
    days.write_text("date,name\n" + "".join(f"{day},{name}\n" for day, name in rest))
    jobu("calendar", "import", "kr-cli", str(days))
    for name, (expression, on_holiday) in CRONS.items():
        jobu("cron", "add", f"{name}-cli", "--schedule", expression, "--handler", "payroll.run",
             "--timezone", "Asia/Seoul", "--calendar", "kr-cli", "--force",
             *(["--on-holiday", on_holiday] if on_holiday else []))


def declare_by_client(store) -> None:
    with Client(database_url=spec_url(store.database.spec)) as client:
        client.add_calendar("kr-api", days={day.isoformat(): name for day, name in DAYS.items()},
                            timezone="Asia/Seoul", weekend="sat,sun",
                            description="Korea and closing days")
        for name, (expression, on_holiday) in CRONS.items():
            client.add_cron_job("payroll.run", f"{name}-api", expression=expression,
                                timezone="Asia/Seoul", calendar="kr-api", force=True,
                                **({"on_holiday": on_holiday} if on_holiday else {}))


def declare_by_files(store, config_dir: Path) -> None:
    (config_dir / "calendars.yaml").write_text(yaml.safe_dump({"calendars": {"kr-file": {
        "timezone": "Asia/Seoul", "weekend": "sat,sun", "description": "Korea and closing days",
        "days": [{"date": day, "name": name} for day, name in DAYS.items()]}}}))
    (config_dir / "crons.yaml").write_text(yaml.safe_dump({"crons": {
        f"{name}-file": {"schedule": expression, "handler": "payroll.run",
                         "timezone": "Asia/Seoul", "calendar": "kr-file",
                         **({"on_holiday": on_holiday} if on_holiday else {})}
        for name, (expression, on_holiday) in CRONS.items()}}))
    config = load_config(config_dir, with_crons=True)
    # What the dispatcher does at start and on SIGHUP, in its order.
    applied = apply_calendar_files(store, config.calendars)
    assert applied.added == ["kr-file"]
    assert sorted(apply_cron_files(store, config.crons, CronRules(), SystemClock()).added) == [
        "payroll-file", "settle-file"]


def calendar_fields(store, name: str) -> dict:
    """A calendar's row without what tells two apart: its name, and its version (how many
    times it was saved: twice by `jobu calendar add` then `import`)."""
    fields = dataclasses.asdict(store.calendar_get(name))
    del fields["name"], fields["version"]
    return fields


def cron_fields(store, name: str, way: str) -> dict:
    """A cron's row without what tells two apart: its name and ids, its times, and its
    calendar's name in the schedule."""
    spec = store.cron_get(name).spec
    return {**dataclasses.asdict(spec), "name": None,
            "schedule": spec.schedule.replace(f"calendar kr-{way}", "calendar KR")}


def planned(store, name: str, way: str) -> list[tuple]:
    ticks = cron_ticks(store, store.cron_get(name).spec, T0, 24)
    return [(tick.at, tick.original, tick.outcome,
             (tick.reason or "").replace(f"calendar kr-{way}", "calendar KR")) for tick in ticks]


def test_the_cli_the_client_and_the_files_store_and_plan_the_same(store, config_dir, tmp_path):
    declare_by_cli(config_dir, tmp_path)
    declare_by_client(store)
    declare_by_files(store, config_dir)
    ways = ("cli", "api", "file")

    calendars = [calendar_fields(store, f"kr-{way}") for way in ways]
    assert calendars[0] == calendars[1] == calendars[2]
    assert len(calendars[0]["holidays"]) == len(DAYS)
    assert store.calendar_managed() == {"kr-file": str(config_dir / "calendars.yaml")}

    for name in CRONS:
        crons = [cron_fields(store, f"{name}-{way}", way) for way in ways]
        assert crons[0] == crons[1] == crons[2], name
        ticks = [planned(store, f"{name}-{way}", way) for way in ways]
        assert ticks[0] == ticks[1] == ticks[2], name
    # the calendar shapes the ticks: the 24th of September is Chuseok, then a weekend
    settle = planned(store, "settle-file", "file")
    assert settle[0][:3] == (datetime(2026, 9, 28, 0, 0, tzinfo=UTC),
                             datetime(2026, 9, 24, 0, 0, tzinfo=UTC), "moved")
    # and the last business day of February 2027 is the 25th, the 26th being closed
    assert datetime(2027, 2, 25, 9, 0, tzinfo=UTC) in [
        tick[0] for tick in planned(store, "payroll-api", "api")]


@pytest.mark.parametrize(("argv", "kwargs", "sentence"), [
    (["--country", "KR"], {"country": "KR"},
     "country needs years, e.g. 2026-2030 (--years)"),
    (["--years", "2026"], {"years": 2026},
     "years and subdivision go with a country (--country)"),
    (["--day", "2026-02-30"], {"days": {"2026-02-30": "nope"}}, "2026-02-30"),
])
def test_the_cli_and_the_client_refuse_a_calendar_with_one_sentence(
        store, config_dir, capsys, argv, kwargs, sentence):
    assert main(["--config-dir", str(config_dir), "calendar", "add", "kr", *argv]) != 0
    printed = capsys.readouterr().err
    assert sentence in printed
    with Client(database_url=spec_url(store.database.spec)) as client, \
            pytest.raises(InvalidInputError) as refused:
        client.add_calendar("kr", **kwargs)
    assert sentence in str(refused.value)
    assert store.calendar_list() == []
