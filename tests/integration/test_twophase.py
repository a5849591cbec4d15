"""Atomic commits over two databases: both committed or both unchanged, never one of each.

Pairs: PostgreSQL+MariaDB (both orders) and PostgreSQL+PostgreSQL (two schemas of one
server: the gids of one transaction must still differ). Failures: an exception after
both writes, a PREPARE that fails on the second database (a deferred constraint on
PostgreSQL, a connection killed on MariaDB), and a coordinator killed with SIGKILL at
its decision point, before or after writing it, followed by recovery. Then a third
database that cannot prepare (SQLite), committed last, and refused after the decision.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobu.db import (
    DatabaseRegistry,
    get_connection,
    recover_in_doubt,
    transactional,
    use_databases,
)
from jobu.errors import TransactionError
from jobu.store import Store, open_store
from tests.conftest import _mysql_admin
from tests.servers import wait_until

REPO = Path(__file__).resolve().parents[2]
PAIRS = [("postgres", "mysql"), ("mysql", "postgres"), ("postgres", "postgres")]
START = 100


@dataclasses.dataclass
class Setup:
    registry: DatabaseRegistry
    names: list[str]
    jobs: Store

    def balance(self, name: str) -> int:
        with self.registry.get(name).transaction(write=False) as conn:
            return conn.fetch_value("SELECT balance FROM accounts WHERE id = 1")

    def balances(self) -> list[int]:
        return [self.balance(name) for name in self.names]

    def prepared(self) -> list[str]:
        """This test's gids still prepared, on any of its databases."""
        prefix = f"jobu:{self.jobs.decision_log_id()}:"
        gids: set[str] = set()
        for name in self.names:
            database = self.registry.get(name)
            if database.dialect.supports_two_phase:
                with database.connection() as conn:
                    gids |= set(database.dialect.tpc_recover(conn.connection, prefix))
        return sorted(gids)

    def recover(self, min_age: float = 0.0):
        return recover_in_doubt([self.registry.get(n) for n in self.names], self.jobs,
                                min_age_seconds=min_age)


@pytest.fixture
def jobs(fresh_database) -> Iterator[Store]:
    store = open_store(fresh_database("sqlite"))
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def databases(fresh_database, jobs) -> Iterator[Callable[..., Setup]]:
    """A factory: databases("postgres", "mysql") -> Setup, with the toolkit pointed at them."""
    made: list[Setup] = []

    def make(*kinds: str) -> Setup:
        specs = {}
        for number, kind in enumerate(kinds, start=1):
            name = f"{kind}_{number}"
            specs[name] = dataclasses.replace(fresh_database(kind), name=name)
        registry = DatabaseRegistry(specs)
        for name, spec in specs.items():
            with registry.get(name).transaction() as conn:
                conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER)")
                conn.execute("INSERT INTO accounts (id, balance) VALUES (1, :start)",
                             {"start": START})
                if spec.driver == "postgres":
                    conn.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, ref INTEGER, "
                                 "CONSTRAINT ledger_ref UNIQUE (ref) DEFERRABLE INITIALLY "
                                 "DEFERRED)")
                    conn.execute("INSERT INTO ledger (id, ref) VALUES (1, 1)")
                if spec.driver == "sqlite":
                    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
                    conn.execute("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER "
                                 "REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
        use_databases(registry, decision_log=jobs)
        setup = Setup(registry, list(specs), jobs)
        made.append(setup)
        return setup

    yield make
    use_databases(None)
    for setup in made:
        left = setup.prepared()
        if left:  # resolved first, or the servers could not drop the test's databases
            wait_until(lambda setup=setup: setup.recover().complete, timeout=30)
        assert left == [], "a branch was left prepared"
        for name in setup.names:
            assert setup.registry.get(name).pool.stats()["lent"] == 0, f"{name}: leaked"
        setup.registry.close()


def add_ten_everywhere(setup: Setup) -> None:
    for name in setup.names:
        get_connection(name).execute(
            "UPDATE accounts SET balance = balance + :amount WHERE id = 1", {"amount": 10})


@pytest.mark.parametrize("kinds", PAIRS, ids="+".join)
def test_both_commit_and_the_decision_is_done(databases, kinds):
    setup = databases(*kinds)
    with transactional(*setup.names):
        add_ten_everywhere(setup)
    assert setup.balances() == [START + 10, START + 10]
    assert setup.jobs.decision_list_pending() == []


@pytest.mark.parametrize("kinds", PAIRS, ids="+".join)
def test_a_failure_after_both_writes_leaves_both_unchanged(databases, kinds):
    setup = databases(*kinds)

    @transactional(*setup.names)
    def handler() -> None:
        add_ten_everywhere(setup)
        raise RuntimeError("the handler failed after writing to both")

    with pytest.raises(RuntimeError, match="after writing to both"):
        handler()
    assert setup.balances() == [START, START]


@pytest.mark.parametrize("kinds", PAIRS, ids="+".join)
def test_a_failed_prepare_of_the_second_database_leaves_both_unchanged(databases, kinds):
    setup = databases(*kinds)
    second = setup.names[1]
    with pytest.raises(TransactionError, match="PREPARE") as caught, \
            transactional(*setup.names):
        add_ten_everywhere(setup)
        if kinds[1] == "postgres":
            # Checked only at PREPARE: the first database is prepared by then.
            get_connection(second).execute("INSERT INTO ledger (id, ref) VALUES (2, 1)")
        else:
            connection_id = get_connection(second).fetch_value("SELECT CONNECTION_ID() AS id")
            admin = _mysql_admin()
            with admin.cursor() as cursor:
                cursor.execute(f"KILL {int(connection_id)}")
            admin.close()
    assert caught.value.database == second
    assert setup.balances() == [START, START]
    assert setup.jobs.decision_list_pending() == []


def run_coordinator(setup: Setup, tmp_path: Path, pause: str) -> str:
    """Start the coordinator of tests/support/twophase_coordinator.py, let it reach its
    decision point (`pause`), SIGKILL it; return its txid."""
    ready = tmp_path / "ready"
    config = {
        "databases": {name: dataclasses.asdict(setup.registry.specs[name])
                      for name in setup.names},
        "jobs": dataclasses.asdict(setup.jobs.database.spec),
        "order": setup.names, "pause": pause, "ready_file": str(ready),
    }
    config_file = tmp_path / "coordinator.json"
    config_file.write_text(json.dumps(config))
    child = subprocess.Popen([sys.executable, "-m", "tests.support.twophase_coordinator",
                              str(config_file)], cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: ready.exists() or child.poll() is not None, timeout=60,
                   message="the coordinator to reach its decision point")
        assert child.poll() is None, child.communicate()
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    return ready.read_text()


@pytest.mark.parametrize("kinds", PAIRS, ids="+".join)
@pytest.mark.parametrize(("pause", "outcome"), [("after_decision", "commit"),
                                                ("before_decision", "rollback")])
def test_a_coordinator_killed_between_the_phases_is_resolved_by_recovery(
        databases, tmp_path, kinds, pause, outcome):
    setup = databases(*kinds)
    txid = run_coordinator(setup, tmp_path, pause)
    assert len(setup.prepared()) == 2, "both branches are prepared, in doubt"
    assert setup.balances() == [START, START]

    young = setup.recover(min_age=3600)
    assert young.resolved == [] and len(young.left) == 2
    assert all("younger than" in left.reason for left in young.left)

    # MariaDB lets another session finish a branch only once it has noticed the kill.
    wait_until(lambda: setup.recover().complete, timeout=30, message="recovery to finish")
    expected = START + 10 if outcome == "commit" else START
    assert setup.balances() == [expected, expected]
    decision = setup.jobs.decision_get(txid)
    assert decision.outcome == outcome and decision.done_at is not None


def test_a_database_that_cannot_prepare_is_committed_with_the_others(databases):
    setup = databases("sqlite", "postgres", "mysql")
    with transactional(*setup.names):
        add_ten_everywhere(setup)
    assert setup.balances() == [START + 10] * 3
    assert setup.jobs.decision_list_pending() == []


def test_a_refused_one_phase_commit_after_the_decision_rolls_everything_back(databases):
    setup = databases("sqlite", "postgres", "mysql")
    with pytest.raises(TransactionError, match="rolled back on every database"), \
            transactional(*setup.names):
        add_ten_everywhere(setup)
        # A deferred foreign key: SQLite refuses it only at COMMIT, after the decision.
        get_connection("sqlite_1").execute("INSERT INTO child (id, parent_id) VALUES (1, 99)")
    assert setup.balances() == [START] * 3
    [decision] = setup.jobs.decision_list_pending()
    assert decision.outcome == "rollback", "the coordinator revoked its commit decision"
