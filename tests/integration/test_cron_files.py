"""crons.yaml applied to the database (jobu.operations.cron_files), on every dialect.

Added, updated in place with the history kept, left alone when unchanged, disabled (never
deleted) when it left the files; a cron from a file refused by `jobu cron edit`, `cron remove`
and the Client, naming the file, while pause and resume stay allowed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from jobu import Client
from jobu.cli import main
from jobu.clock import SystemClock
from jobu.config import load_config
from jobu.errors import CronManagedByFileError
from jobu.model import ExecutionFilter, NewExecution, ParamSource
from jobu.operations import edit_cron, remove_cron
from jobu.operations.cron_files import apply_cron_files
from jobu.operations.crons import CronRules
from tests.conftest import spec_url

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "etc" / "jobu"


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


def write_crons(path: Path, **crons: dict) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump({"crons": crons}))


def apply(store, config_dir: Path):
    files = load_config(config_dir, with_crons=True).crons
    return apply_cron_files(store, files, CronRules(), SystemClock())


REPORT = {"schedule": "0 3 * * *", "handler": "reports.nightly", "params": {"region": "eu"}}


def test_added_updated_unchanged_and_disabled(store, config_dir):
    write_crons(config_dir / "crons.yaml", report=REPORT,
                sync={"schedule": "every 30m", "handler": "sync", "enabled": False})
    write_crons(config_dir / "crons.d" / "extra.yaml",
                health={"schedule": "*/5 * * * *", "handler": "noop"})

    first = apply(store, config_dir)

    assert (sorted(first.added), first.updated, first.disabled) == (
        ["health", "report", "sync"], [], [])
    report = store.cron_get("report")
    assert (report.schedule, report.handler_name, report.handler_params, report.is_enabled) == (
        "0 3 * * *", "reports.nightly", {"region": "eu"}, True)
    assert store.cron_get("sync").is_enabled is False
    assert store.cron_managed() == {
        "health": str(config_dir / "crons.d" / "extra.yaml"),
        "report": str(config_dir / "crons.yaml"), "sync": str(config_dir / "crons.yaml")}

    # history of the cron, which an update must keep
    store.execution_insert(NewExecution(handler_name="reports.nightly", job_id=report.id,
                                        param_source=ParamSource.CRON))
    again = apply(store, config_dir)
    assert sorted(again.unchanged) == ["health", "report", "sync"]
    assert store.cron_get("report").version == report.version  # left alone entirely

    write_crons(config_dir / "crons.yaml",
                report={**REPORT, "schedule": "30 4 * * *", "max_retry": 2})
    changed = apply(store, config_dir)

    assert (changed.updated, changed.disabled) == (["report"], ["sync"])
    updated = store.cron_get("report")
    assert (updated.id, updated.schedule, updated.max_retry) == (report.id, "30 4 * * *", 2)
    assert len(store.execution_list(ExecutionFilter(job_id=report.id)).items) == 1
    sync = store.cron_get("sync")  # disabled, not deleted, and no longer managed
    assert sync.is_enabled is False
    assert "sync" not in store.cron_managed()

    (config_dir / "crons.d" / "extra.yaml").unlink()
    (config_dir / "crons.yaml").unlink()
    gone = apply(store, config_dir)
    assert sorted(gone.disabled) == ["health", "report"]
    assert [c.is_enabled for c in store.cron_list()] == [False, False, False]
    assert store.cron_managed() == {}


def test_a_file_takes_over_a_cron_and_brings_back_one_that_left(store, config_dir):
    with Client(database_url=spec_url(store.database.spec)) as client:
        client.add_cron_job("noop", "report", expression="0 1 * * *")
    write_crons(config_dir / "crons.yaml", report=REPORT)
    assert apply(store, config_dir).updated == ["report"]
    assert store.cron_managed_by("report") == str(config_dir / "crons.yaml")

    write_crons(config_dir / "crons.yaml")
    apply(store, config_dir)
    assert store.cron_get("report").is_enabled is False
    write_crons(config_dir / "crons.yaml", report=REPORT)
    apply(store, config_dir)
    assert store.cron_get("report").is_enabled is True  # back in the file: the file decides


def test_an_operators_pause_survives_a_reload_unless_the_file_says_enabled(store, config_dir):
    write_crons(config_dir / "crons.yaml", report=REPORT)
    apply(store, config_dir)
    store.cron_set_enabled("report", False)  # `jobu cron disable report`: allowed
    apply(store, config_dir)
    assert store.cron_get("report").is_enabled is False

    write_crons(config_dir / "crons.yaml", report={**REPORT, "enabled": True})
    apply(store, config_dir)
    assert store.cron_get("report").is_enabled is True


def test_a_managed_cron_is_refused_by_edit_remove_and_the_client(store, config_dir, capsys):
    write_crons(config_dir / "crons.yaml", report=REPORT)
    apply(store, config_dir)
    source = str(config_dir / "crons.yaml")

    capsys.readouterr()
    code = main(["--config-dir", str(config_dir), "cron", "edit", "report",
                 "--schedule", "0 5 * * *"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"cron 'report' is managed by {source}: change or remove it there" in err
    assert main(["--config-dir", str(config_dir), "cron", "remove", "report"]) == 1
    assert main(["--config-dir", str(config_dir), "cron", "disable", "report"]) == 0
    assert main(["--config-dir", str(config_dir), "cron", "enable", "report"]) == 0

    with pytest.raises(CronManagedByFileError, match="managed by"):
        edit_cron(store, "report", {"max_retry": 3}, CronRules(), SystemClock())
    with pytest.raises(CronManagedByFileError):
        remove_cron(store, "report")
    with Client(database_url=spec_url(store.database.spec)) as client:
        with pytest.raises(CronManagedByFileError, match=source):
            client.add_cron_job("other", "report", expression="0 1 * * *",
                                replace_existing=True)
        with pytest.raises(CronManagedByFileError):
            client.remove_job("report")
        client.pause_job("report")
    cron = store.cron_get("report")
    assert (cron.schedule, cron.handler_name, cron.is_enabled) == (
        "0 3 * * *", "reports.nightly", False)


def test_a_one_shot_whose_time_passed_is_refused_not_fatal(store, config_dir):
    write_crons(config_dir / "crons.yaml", report=REPORT,
                once={"schedule": "2020-01-01T00:00:00Z", "handler": "noop"})
    applied = apply(store, config_dir)
    assert applied.added == ["report"]
    assert "in the past" in applied.refused["once"]
