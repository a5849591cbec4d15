"""`jobu check-config`'s two-phase report and `jobu db recover`, through the real executable.

The configuration names jobu's SQLite database (`default`) and a fresh PostgreSQL and MariaDB
database (`postgres_1`, `mysql_1`). An in-doubt transaction is made the way a crash makes it:
tests/support/twophase_coordinator.py prepares both branches and is killed with SIGKILL.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobu.db import DatabaseRegistry, recover_in_doubt
from jobu.model import DatabaseSpec
from jobu.store import open_store
from tests.servers import wait_until

REPO = Path(__file__).resolve().parents[2]
JOBU = Path(sys.executable).parent / "jobu"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


class Setup:
    """A configuration directory and its databases."""

    def __init__(self, directory: Path, databases: dict[str, DatabaseSpec]) -> None:
        self.directory = directory
        self.databases = {name: dataclasses.replace(spec, name=name)
                          for name, spec in databases.items()}
        entries = {}
        for name, spec in databases.items():
            entry: dict[str, Any] = {"driver": spec.driver}
            if spec.driver == "sqlite":
                entry["path"] = spec.path
            else:
                entry.update(host=spec.host, port=spec.port, user=spec.user,
                             password=spec.password, dbname=spec.dbname,
                             connect_timeout_seconds=2, pool_timeout_seconds=2)
                if spec.options:
                    entry["options"] = dict(spec.options)
            entries[name] = entry
        (directory / "database.yaml").write_text(yaml.safe_dump(
            {"state_directory": str(directory), "databases": entries}, sort_keys=False))

    def __call__(self, *args: str) -> Result:
        env = {key: value for key, value in os.environ.items() if not key.startswith("JOBU_")}
        done = subprocess.run([str(JOBU), "--config-dir", str(self.directory), *args],
                              capture_output=True, text=True, env=env, timeout=120,
                              stdin=subprocess.DEVNULL, check=False)
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def setup(tmp_path, fresh_database) -> Iterator[Setup]:
    made = Setup(tmp_path, {"default": fresh_database("sqlite"),
                            "postgres_1": fresh_database("postgres"),
                            "mysql_1": fresh_database("mysql")})
    yield made
    resolve_whatever_is_left(made)


def resolve_whatever_is_left(setup: Setup) -> None:
    """After a failed test: a branch left prepared would keep the servers from dropping the
    test's databases (they wait on its locks)."""
    store = open_store(setup.databases["default"])
    registry = DatabaseRegistry(setup.databases)
    try:
        if store.pending_migrations():
            return
        databases = [registry.get(name) for name in setup.databases]
        wait_until(lambda: recover_in_doubt(databases, store, min_age_seconds=0).complete,
                   timeout=30, message="the test's in-doubt branches to be resolved")
    finally:
        registry.close()
        store.close()


def test_check_config_says_which_databases_can_prepare(setup):
    down = DatabaseSpec(name="down", driver="postgres", host="127.0.0.1", port=1, user="x",
                        dbname="x")
    setup = Setup(setup.directory, {**setup.databases, "down": down})

    as_yaml, as_json = setup("check-config"), setup("check-config", "--json")

    for result in (as_yaml, as_json):
        assert result.code == 0 and result.err == "", str(result)
    described = json.loads(as_json.out)
    assert yaml.safe_load(as_yaml.out) == described
    report = described["two_phase_commit"]
    assert report["default"] == {"can_prepare": False, "why": "SQLite has no two-phase commit"}
    assert report["postgres_1"]["can_prepare"] is True
    assert "max_prepared_transactions = " in report["postgres_1"]["why"]
    assert report["mysql_1"] == {"can_prepare": True, "why": "MySQL/MariaDB XA transactions"}
    assert report["down"]["can_prepare"] is None
    assert report["down"]["why"].startswith("cannot tell: database 'down'")
    assert described["allow_best_effort_multi_commit"] is False


def test_db_recover_needs_the_migrated_jobs_database(setup):
    result = setup("db", "recover")
    assert result.code == 70 and "jobu migrate" in result.err, str(result)


def test_db_recover_with_nothing_in_doubt(setup):
    assert setup("migrate").code == 0
    result = setup("db", "recover")
    assert result.code == 0, str(result)
    assert result.out == ("nothing in doubt on postgres_1, mysql_1\n"
                          "(default: cannot prepare a transaction, so nothing is in doubt "
                          "there)\n")


def kill_a_coordinator_at_its_decision_point(setup: Setup, tmp_path: Path) -> None:
    names = ["postgres_1", "mysql_1"]
    registry = DatabaseRegistry(setup.databases)
    try:
        for name in names:
            with registry.get(name).transaction() as conn:
                conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER)")
                conn.execute("INSERT INTO accounts (id, balance) VALUES (1, 100)")
    finally:
        registry.close()
    ready = tmp_path / "ready"
    config = tmp_path / "coordinator.json"
    config.write_text(json.dumps({
        "databases": {name: dataclasses.asdict(setup.databases[name]) for name in names},
        "jobs": dataclasses.asdict(setup.databases["default"]),
        "order": names, "pause": "before_decision", "ready_file": str(ready)}))
    child = subprocess.Popen([sys.executable, "-m", "tests.support.twophase_coordinator",
                              str(config)], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: ready.exists() or child.poll() is not None, timeout=60,
                   message="the coordinator to prepare both branches")
        assert child.poll() is None, child.communicate()
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()


def test_db_recover_rolls_back_what_a_killed_coordinator_left_prepared(setup, tmp_path):
    assert setup("migrate").code == 0
    kill_a_coordinator_at_its_decision_point(setup, tmp_path)

    young = setup("db", "recover")
    assert young.code == 1, str(young)
    lines = [line for line in young.out.splitlines() if " in doubt: " in line]
    assert len(lines) == 2, str(young)
    assert {line.split(":")[0] for line in lines} == {"postgres_1", "mysql_1"}
    assert "younger than 60 s" in young.out

    outputs: list[str] = []

    def recovered() -> bool:
        result = setup("db", "recover", "--min-age", "0")
        outputs.append(result.out)
        return result.code == 0

    # MariaDB lets another session finish the branch once it has noticed the kill.
    wait_until(recovered, timeout=30, message="`jobu db recover --min-age 0` to exit 0")
    rolled_back = [line for out in outputs for line in out.splitlines()
                   if " rolled back jobu:" in line]
    assert {line.split(":")[0] for line in rolled_back} == {"postgres_1", "mysql_1"}
    assert all("no commit was decided" in line for line in rolled_back)

    after = json.loads(setup("db", "recover", "--json").out)
    assert (after["resolved"], after["left"], after["unreachable"]) == ([], [], {})
    assert after["not_two_phase"] == ["default"]
