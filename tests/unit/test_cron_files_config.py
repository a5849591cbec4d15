"""crons.yaml and crons.d/*.yaml as load_config(with_crons=True) reads them
(jobu.config.cronfiles)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobu.config import load_config
from jobu.config.cronfiles import CronEntrySchema
from jobu.errors import ConfigError
from jobu.model import CatchUp, CronSpec

SHIPPED = Path(__file__).resolve().parents[2] / "etc" / "jobu"


def problems(config_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as excinfo:
        load_config(config_dir, environ={}, with_crons=True)
    return excinfo.value.problems


def test_crons_become_specs_with_their_file(tmp_path):
    (tmp_path / "dispatcher.yaml").write_text("timezone: Europe/Paris\n")
    (tmp_path / "crons.yaml").write_text(
        "crons:\n"
        "  report:\n"
        "    schedule: '0 3 * * *'\n"
        "    handler: reports.nightly\n"
        "    params: {region: eu, to: [a, b]}\n"
        "    catch_up: all\n"
        "    enabled: false\n")
    (tmp_path / "crons.d").mkdir()
    (tmp_path / "crons.d" / "health.yaml").write_text(
        "crons:\n  health: {schedule: every 5m, handler: noop, timezone: UTC}\n")
    (tmp_path / "crons.d" / "notes.txt").write_text("not read")

    files = load_config(tmp_path, environ={}, with_crons=True).crons

    assert files.paths == (str(tmp_path / "crons.yaml"), str(tmp_path / "crons.d/health.yaml"))
    report, health = files.crons
    assert report.spec == CronSpec(name="report", schedule="0 3 * * *",
                                   handler_name="reports.nightly",
                                   handler_params={"region": "eu", "to": ["a", "b"]},
                                   timezone="Europe/Paris", catch_up=CatchUp.ALL,
                                   is_enabled=False)
    assert (report.source, report.enabled_given) == (str(tmp_path / "crons.yaml"), True)
    assert (health.spec.timezone, health.enabled_given) == ("UTC", False)


def test_crons_are_read_only_when_asked(tmp_path):
    (tmp_path / "crons.yaml").write_text("crons: [broken\n")
    assert load_config(tmp_path, environ={}).crons is None
    assert problems(tmp_path)[0].startswith("crons.yaml: line 2, column 1: not valid YAML")


def test_every_problem_names_file_key_and_line(tmp_path):
    (tmp_path / "crons.yaml").write_text(
        "crons:\n"
        "  ok: {schedule: '@daily', handler: noop}\n"
        "  bad-hour:\n"
        "    schedule: '0 61 * * *'\n"
        "    handler: noop\n"
        "  'bad name':\n"
        "    schedule: '@daily'\n"
        "    handler: noop\n"
        "  incomplete:\n"
        "    handler: noop\n"
        "    max_retry: -1\n"
        "    shedule: '@daily'\n"
        "  too-often: {schedule: '* * * * * *', handler: noop}\n")

    assert problems(tmp_path) == [
        "crons.yaml: crons['bad name'] (line 6): expected 1-200 letters, digits and . _ : - "
        "(starting with a letter or digit), got 'bad name'",
        "crons.yaml: crons.incomplete.schedule (line 9): is required",
        "crons.yaml: crons.incomplete.max_retry (line 11): must be between 0 and 2147483647, "
        "got -1",
        "crons.yaml: crons.incomplete.shedule (line 12): unknown key; did you mean 'schedule'?",
        "crons.yaml: crons.bad-hour.schedule (line 4): field 'hour' out of range 0-23 in "
        "'0 61 * * *'",
        "crons.yaml: crons.too-often.schedule (line 13): '* * * * * *' fires every 1 s; the "
        "minimum is 60 s (min_cron_interval_seconds in dispatcher.yaml)",
    ]


def test_on_holiday_on_a_business_day_expression_is_a_problem(tmp_path):
    (tmp_path / "crons.yaml").write_text(
        "crons:\n"
        "  month-end:\n"
        "    schedule: 'bd -1 18:00'\n"
        "    calendar: kr\n"
        "    on_holiday: next_business_day\n"
        "    handler: noop\n")

    assert problems(tmp_path) == [
        "crons.yaml: crons.month-end.schedule (line 3): 'bd -1 18:00 calendar kr on_holiday "
        "next_business_day': on_holiday has no effect on a business-day expression, which "
        "only ever fires on a business day of its calendar; write 'bd -1 18:00 calendar kr'"]


def test_one_cron_in_two_files_is_a_problem(tmp_path):
    (tmp_path / "crons.yaml").write_text("crons:\n  report: {schedule: '@daily', handler: a}\n")
    (tmp_path / "crons.d").mkdir()
    (tmp_path / "crons.d" / "more.yaml").write_text(
        "# moved here\ncrons:\n  report: {schedule: '@daily', handler: b}\n")

    assert problems(tmp_path) == [
        "crons.d/more.yaml: crons.report (line 3): cron 'report' is declared in crons.yaml "
        "line 2 too; declare each cron in one file"]


def test_the_shipped_file_declares_nothing_and_documents_every_key():
    config = load_config(SHIPPED, environ={}, with_crons=True)
    assert config.crons.crons == ()
    text = (SHIPPED / "crons.yaml").read_text()
    undocumented = [key for key in CronEntrySchema().fields
                    if not re.search(rf"^#\s+{key}:", text, re.MULTILINE)]
    assert undocumented == []


def test_the_shipped_example_is_valid_once_uncommented(tmp_path):
    text = (SHIPPED / "crons.yaml").read_text()
    example = text[text.index("# crons:"):text.index("\ncrons: {}")]
    (tmp_path / "crons.yaml").write_text(re.sub(r"^# ?", "", example, flags=re.MULTILINE))

    names = [d.spec.name for d in load_config(tmp_path, environ={}, with_crons=True).crons.crons]

    assert names == ["nightly-report", "health-check"]


def test_misnamed_files_are_reported_not_ignored(tmp_path):
    for name in ("workers.yaml", "worker.yml", "crons.yml", "worker-extra.yaml", "notes.yaml",
                 "database.yaml.dpkg-old"):
        (tmp_path / name).write_text("{}\n")
    (tmp_path / "crons.d").mkdir()
    (tmp_path / "crons.d" / "more.yml").write_text("crons: {}\n")

    found = problems(tmp_path)

    assert [line.partition(":")[0] for line in found] == [
        "crons.yml", "worker.yml", "workers.yaml", "crons.d/more.yml"]
    assert "did you mean 'worker.yaml'? Rename it, or move it out of" in found[2]
    assert found[3].endswith("jobu reads only *.yaml files in crons.d; rename it to more.yaml")
