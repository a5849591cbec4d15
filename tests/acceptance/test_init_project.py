"""`jobu init`: the new project's tests pass under pytest, and `jobu run` in it runs its
example cron. Real processes: `jobu init`, `python -m pytest` in the project, `jobu run`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from jobu.config import load_config
from jobu.model import ExecutionFilter, Status
from jobu.store import open_store
from tests.servers import wait_until
from tests.support.processes import DaemonProcess

pytestmark = pytest.mark.acceptance

JOBU = Path(sys.executable).parent / "jobu"


def environment() -> dict[str, str]:
    """This process's environment without jobu's and pytest's own variables."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith(("JOBU_", "PYTEST_", "NOTIFY_SOCKET", "WATCHDOG_"))
            and key != "PYTHONPATH"}


def jobu(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(JOBU), *args], cwd=cwd, env=environment(), capture_output=True,
                          text=True, timeout=120)


class RunProcess(DaemonProcess):
    command = "run"


def test_init_then_the_tests_pass_and_jobu_run_runs_the_example_cron(tmp_path):
    project = tmp_path / "myproject"
    made = jobu("init", str(project), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (project / "handlers" / "greetings.py").is_file()
    assert (project / "README.md").is_file()

    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=project, env=environment(), capture_output=True, text=True,
                           timeout=300)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout

    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(JOBU), "run", "--config-dir", str(project / "etc" / "jobu")], cwd=tmp_path,
            env={**environment(), "PYTHONUNBUFFERED": "1"}, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT)
    run = RunProcess(process, log_path)
    store = open_store(load_config(project / "etc" / "jobu", environ={}).jobs_database)
    try:
        def greeted():
            if not run.alive():
                pytest.fail(f"jobu run exited {process.returncode}\n{run.log}")
            done = store.execution_list(ExecutionFilter(statuses=(Status.SUCCESS,))).items
            return next((e for e in done if e.cron_name == "greet-every-10s"), None)
        execution = wait_until(greeted, 60, interval=0.2,
                               message=f"the example cron to run\n{run.log}")
        assert execution.result == {"greeting": "Hello, world!"}
        assert store.cron_managed_by("greet-every-10s") == str(
            project / "etc" / "jobu" / "crons.yaml")
    finally:
        store.close()
        if run.alive():
            run.signal(signal.SIGTERM)
    assert run.wait_exit(30) == 0, run.log


def test_a_non_empty_directory_is_refused_unless_forced(tmp_path):
    project = tmp_path / "taken"
    project.mkdir()
    (project / "notes.txt").write_text("mine")

    refused = jobu("init", str(project), cwd=tmp_path)
    assert refused.returncode == 1
    assert f"{project} is not empty" in refused.stderr and "--force" in refused.stderr
    assert list(project.iterdir()) == [project / "notes.txt"]

    forced = jobu("init", str(project), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert (project / "notes.txt").read_text() == "mine"
    assert (project / "etc" / "jobu" / "crons.yaml").is_file()
