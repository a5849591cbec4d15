"""calendars.yaml and calendars.d/*.yaml as load_config(with_crons=True) reads them
(jobu.config.calendarfiles)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from jobu.calendars import Calendar
from jobu.config import describe_config, load_config
from jobu.config.calendarfiles import CalendarEntrySchema, DaySchema
from jobu.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[2] / "etc" / "jobu"


def problems(config_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as excinfo:
        load_config(config_dir, environ={}, with_crons=True)
    return excinfo.value.problems


def test_calendars_become_calendars_with_their_file(tmp_path):
    (tmp_path / "calendars.yaml").write_text(
        "calendars:\n"
        "  kr:\n"
        "    description: Korea\n"
        "    timezone: Asia/Seoul\n"
        "    days:\n"
        "      - {date: 2026-09-24, name: Chuseok}\n"
        "      - date: '2026-12-31'\n"
        "    country: kr\n"
        "    years: 2026-2027\n")
    (tmp_path / "calendars.d").mkdir()
    (tmp_path / "calendars.d" / "gulf.yaml").write_text(
        "calendars:\n  gulf: {weekend: [fri, sat]}\n")
    (tmp_path / "calendars.d" / "notes.txt").write_text("not read")

    files = load_config(tmp_path, environ={}, with_crons=True).calendars

    assert files.paths == (str(tmp_path / "calendars.yaml"),
                           str(tmp_path / "calendars.d/gulf.yaml"))
    kr, gulf = files.calendars
    assert kr.calendar == Calendar(
        "kr", {date(2026, 9, 24): "Chuseok", date(2026, 12, 31): "holiday"},
        timezone="Asia/Seoul", description="Korea")
    assert (kr.source, kr.country, kr.years, kr.subdivision) == (
        str(tmp_path / "calendars.yaml"), "KR", "2026-2027", None)
    assert (gulf.calendar.weekend, gulf.calendar.holidays, gulf.calendar.timezone) == (
        frozenset({5, 6}), {}, None)
    # check-config prints it (postinst reads its JSON)
    described = describe_config(load_config(tmp_path, environ={}, with_crons=True))
    assert described["calendars"]["calendars"][0]["calendar"]["name"] == "kr"


def test_calendars_are_read_only_with_the_crons(tmp_path):
    (tmp_path / "calendars.yaml").write_text("calendars: [broken\n")
    assert load_config(tmp_path, environ={}).calendars is None
    assert problems(tmp_path)[0].startswith("calendars.yaml: line 2, column 1: not valid YAML")


def test_every_problem_names_file_key_and_line(tmp_path):
    (tmp_path / "calendars.yaml").write_text(
        "calendars:\n"
        "  kr:\n"
        "    weekend: sat,sunday,funday\n"
        "    days:\n"
        "      - {date: '2026-02-30', name: Nope}\n"
        "      - {name: no date}\n"
        "    timezone: Mars/Olympus\n"
        "  de:\n"
        "    country: DE\n"
        "    days: [{date: 2026-10-03}, {date: 2026-10-03, name: again}]\n"
        "  us:\n"
        "    colour: red\n"
        "    years: 2026-2500\n"
        "  bad name!: {}\n")

    assert problems(tmp_path) == [
        "calendars.yaml: calendars.kr.timezone (line 7): expected an IANA time zone such "
        "as 'Europe/Paris' or 'UTC', got 'Mars/Olympus'",
        "calendars.yaml: calendars.kr.weekend (line 3): weekend day 'funday' is not valid: "
        "write days such as 'sat,sun' or 'fri,sat' (or ISO numbers 1-7, or 'none')",
        "calendars.yaml: calendars.kr.days[0].date (line 5): expected a date (YYYY-MM-DD), "
        "got '2026-02-30'",
        "calendars.yaml: calendars.kr.days[1].date (line 6): is required",
        "calendars.yaml: calendars.us.years (line 13): '2026-2500': give 1 to 100 years, the "
        "first not after the last",
        "calendars.yaml: calendars.us.colour (line 12): unknown key; did you mean 'country'?",
        "calendars.yaml: calendars['bad name!'] (line 14): expected 1-100 letters, digits and "
        ". _ : - (starting with a letter or digit), got 'bad name!'",
        "calendars.yaml: calendars.de.days[1].date (line 10): 2026-10-03 is listed twice; "
        "list each day once",
        "calendars.yaml: calendars.de.country (line 9): needs years, e.g. years: 2026-2030",
    ]


def test_a_date_that_does_not_exist_is_reported_at_its_line(tmp_path):
    (tmp_path / "calendars.yaml").write_text(
        "calendars:\n  kr:\n    days:\n      - {date: 2026-02-30, name: Nope}\n")
    assert problems(tmp_path) == [
        "calendars.yaml: line 4, column 16: not valid YAML: '2026-02-30' is not a valid "
        "date: day is out of range for month"]


def test_one_calendar_in_two_files_is_a_problem(tmp_path):
    (tmp_path / "calendars.yaml").write_text("calendars:\n  kr: {}\n")
    (tmp_path / "calendars.d").mkdir()
    (tmp_path / "calendars.d" / "more.yaml").write_text("\ncalendars:\n  kr: {}\n")
    assert problems(tmp_path) == [
        "calendars.d/more.yaml: calendars.kr (line 3): calendar 'kr' is declared in "
        "calendars.yaml line 2 too; declare each calendar in one file"]


def test_misnamed_files_are_reported_not_ignored(tmp_path):
    for name in ("calendar.yaml", "calendars.yml"):
        (tmp_path / name).write_text("{}\n")
    (tmp_path / "calendars.d").mkdir()
    (tmp_path / "calendars.d" / "more.yml").write_text("calendars: {}\n")

    found = problems(tmp_path)

    assert [line.partition(":")[0] for line in found] == [
        "calendar.yaml", "calendars.yml", "calendars.d/more.yml"]
    assert "did you mean 'calendars.yaml'? Rename it, or move it out of" in found[0]
    assert "did you mean 'calendars.yaml'?" in found[1]
    assert found[2].endswith("jobu reads only *.yaml files in calendars.d; rename it to "
                             "more.yaml")


def test_the_shipped_file_declares_nothing_and_documents_every_key():
    config = load_config(SHIPPED, environ={}, with_crons=True)
    assert config.calendars.calendars == ()
    text = (SHIPPED / "calendars.yaml").read_text()
    keys = [*CalendarEntrySchema().fields, *(f"days: .*{key}:" for key in DaySchema().fields)]
    undocumented = [key for key in keys if not re.search(rf"^#\s+{key}", text, re.MULTILINE)]
    assert undocumented == []


def test_the_shipped_example_is_valid_once_uncommented(tmp_path):
    text = (SHIPPED / "calendars.yaml").read_text()
    example = text[text.index("# calendars:"):]
    (tmp_path / "calendars.yaml").write_text(re.sub(r"^# ?", "", example, flags=re.MULTILINE))

    files = load_config(tmp_path, environ={}, with_crons=True).calendars

    assert [(d.calendar.name, len(d.calendar.holidays)) for d in files.calendars] == [
        ("kr", 3), ("ops-gulf", 1)]
