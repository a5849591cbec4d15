"""The same operation through the CLI, jobu.Client and the admin's API: identical rows,
identical errors.

The front ends only translate their input into jobu.operations calls, so a use case reached
from any writes the same row and refuses a bad value with the same sentence. Each case is run
on SQLite, PostgreSQL and MariaDB: the `jobu` command in-process (jobu.cli.main, with a copy of
the shipped configuration and JOBU_DATABASE_URL naming the test's database), a Client on the
same database, and the admin's /api/v1 (its rows: test_admin_api.py) with an API token.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from jobu import Client
from jobu.cli import main
from jobu.errors import JobuError
from jobu.model import CronSpec, ExecutionFilter, NewExecution, ParamSource, Status, WorkerInfo
from jobu.operations.users import issue_api_token
from jobu.store import Store
from tests.conftest import spec_url
from tests.support.admin_site import AdminSite

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "etc" / "jobu"


@dataclass
class Cli:
    """`jobu …` in this process, on the test's database."""

    config_dir: Path
    capsys: Any

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--config-dir", str(self.config_dir), *argv])
        out, err = self.capsys.readouterr()
        return code, out, err

    def error(self, *argv: str) -> str:
        """The one-line error of a refused command, without its `jobu: ` prefix."""
        code, out, err = self(*argv)
        assert code != 0, (argv, out, err)
        [line] = err.splitlines()
        assert line.startswith("jobu: "), line
        return line[len("jobu: "):]


@pytest.fixture
def cli(store, db_spec, tmp_path, monkeypatch, capsys) -> Cli:
    config_dir = tmp_path / "etc-jobu"
    config_dir.mkdir()
    for shipped in SHIPPED_CONFIG.glob("*.yaml"):
        shutil.copy(shipped, config_dir / shipped.name)
    for name in ("JOBU_CONFIG_DIR", "JOBU_DATABASE_URL", "JOBU_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBU_DATABASE_URL", spec_url(db_spec))
    monkeypatch.setenv("JOBU_STATE_DIR", str(tmp_path / "state"))
    return Cli(config_dir, capsys)


@pytest.fixture
def client(store, db_spec):
    with Client(database_url=spec_url(db_spec)) as client:
        yield client


def client_error(call: Callable[[], Any]) -> str:
    with pytest.raises(JobuError) as excinfo:
        call()
    return str(excinfo.value)


def executions(store: Store) -> list:
    return sorted(store.execution_list(ExecutionFilter(), limit=1000).items, key=lambda e: e.id)


def comparable(execution) -> dict[str, Any]:
    """An execution's row without what differs between any two rows (ids, times)."""
    skip = {"id", "created_at", "updated_at", "run_after", "scheduled_time", "started_at",
            "finished_at"}
    return {k: v for k, v in execution.__dict__.items() if k not in skip}


# --- identical rows --------------------------------------------------------------------------


def test_enqueue_writes_the_same_row_from_both(cli, client, store):
    code, out, _ = cli("enqueue", "send_report", "--params", '{"to": "ops", "n": [1, 2]}',
                       "--priority", "7", "--queue", "reports", "--max-retry", "3",
                       "--timeout", "90.5", "--isolation", "process")
    assert code == 0
    from_cli = store.execution_get(int(out))
    from_client = client.get(client.enqueue(
        "send_report", {"to": "ops", "n": [1, 2]}, priority=7, queue="reports", max_retry=3,
        timeout_seconds=90.5, isolation="process"))
    assert comparable(from_cli) == comparable(from_client)


def test_enqueue_with_a_dedupe_key_answers_the_same_id_from_both(cli, client, store):
    code, out, _ = cli("enqueue", "charge", "--dedupe-key", "order-42")
    assert code == 0
    assert client.enqueue("charge", dedupe_key="order-42") == int(out)
    code, again, _ = cli("enqueue", "charge", "--dedupe-key", "order-42")
    assert (code, again) == (0, out)
    assert len(executions(store)) == 1


CRON_OPTIONS = {
    "cli": ["--schedule", "30 2 * * mon-fri", "--handler", "report", "--params", '{"to": "ops"}',
            "--description", "weekday report", "--timezone", "Europe/Berlin", "--max-retry", "2",
            "--retry-backoff", "5", "--timeout", "60", "--priority", "3", "--queue", "reports",
            "--catch-up", "all", "--misfire-grace", "120", "--catch-up-max-runs", "4",
            "--dst-repeat", "both", "--jitter", "7", "--isolation", "process",
            "--allow-overlap"],
    "client": {"expression": "30 2 * * mon-fri", "params": {"to": "ops"},
               "description": "weekday report", "timezone": "Europe/Berlin", "max_retry": 2,
               "retry_backoff_seconds": 5.0, "timeout_seconds": 60.0, "priority": 3,
               "queue": "reports", "catch_up": "all", "misfire_grace_seconds": 120,
               "catch_up_max_runs": 4, "dst_repeat": "both", "jitter_seconds": 7,
               "isolation": "process", "allow_overlap": True},
}


def test_cron_add_writes_the_same_cron_from_both(cli, client, store):
    assert cli("cron", "add", "by-cli", *CRON_OPTIONS["cli"])[0] == 0
    client.add_cron_job("report", "by-client", **CRON_OPTIONS["client"])
    by_cli, by_client = store.cron_get("by-cli").spec, store.cron_get("by-client").spec
    assert replace(by_cli, name="x") == replace(by_client, name="x")
    # APScheduler's fields make the same cron as the expression they stand for.
    client.add_cron_job("report", "by-fields", minute=30, hour=2, day_of_week="mon-fri",
                        **{k: v for k, v in CRON_OPTIONS["client"].items()
                           if k != "expression"})
    assert replace(store.cron_get("by-fields").spec, name="x") == replace(by_client, name="x")


def test_defaults_are_the_same_from_both(cli, client, store):
    assert cli("cron", "add", "by-cli", "--schedule", "0 3 * * *", "--handler", "report")[0] == 0
    client.add_cron_job("report", "by-client", hour=3)
    assert replace(store.cron_get("by-cli").spec, name="x") == \
        replace(store.cron_get("by-client").spec, name="x")


def test_run_now_pause_resume_and_remove_do_the_same_from_both(cli, client, store):
    for name in ("a", "b"):
        store.cron_create(CronSpec(name=name, schedule="0 3 * * *", handler_name="report",
                                   handler_params={"n": 1}, priority=4, queue="reports",
                                   max_retry=2, timeout_seconds=30.0))
    code, out, _ = cli("cron", "run-now", "a")
    assert code == 0
    by_cli = store.execution_get(int(out.split()[2]))
    by_client = client.get(client.run_job_now("b"))
    assert by_cli.param_source is by_client.param_source is ParamSource.MANUAL
    assert {**comparable(by_cli), "job_id": 0, "cron_name": ""} == \
        {**comparable(by_client), "job_id": 0, "cron_name": ""}
    assert (by_cli.job_id, by_client.job_id) == (store.cron_get("a").id, store.cron_get("b").id)

    assert cli("cron", "disable", "a")[0] == 0
    assert client.pause_job("b").enabled is False
    assert store.cron_get("a").is_enabled is store.cron_get("b").is_enabled is False
    assert cli("cron", "enable", "a")[0] == 0
    assert client.resume_job("b").enabled is True
    assert store.cron_get("a").is_enabled is store.cron_get("b").is_enabled is True

    assert cli("cron", "remove", "a")[0] == 0
    client.remove_job("b")
    assert store.cron_list() == []
    assert len(executions(store)) == 2, "the history stays"


def test_retry_and_cancel_do_the_same_from_both(cli, client, store):
    ids = [store.execution_insert(NewExecution(handler_name="report")) for _ in range(4)]
    for _ in range(2):
        [claimed] = store.execution_claim("w1", ["default"], 1, 300)
        store.execution_fail(claimed.id, claimed.lease_token, "boom")
    assert cli("jobs", "retry", str(ids[0]))[0] == 0
    client.retry(ids[1])
    assert cli("jobs", "cancel", str(ids[2]))[0] == 0
    client.cancel(ids[3])
    rows = {e.id: e for e in executions(store)}
    assert comparable(rows[ids[0]]) == comparable(rows[ids[1]])
    assert rows[ids[0]].status is Status.PENDING and rows[ids[0]].attempt == 0
    assert comparable(rows[ids[2]]) == comparable(rows[ids[3]])
    assert rows[ids[2]].status is Status.CANCELLED


# --- identical error sentences ---------------------------------------------------------------

ERRORS = [
    pytest.param(["enqueue", "send report"], lambda c: c.enqueue("send report"),
                 "handler name 'send report' is not valid", id="enqueue-handler-name"),
    pytest.param(["enqueue", "report", "--max-retry", "-1"],
                 lambda c: c.enqueue("report", max_retry=-1),
                 "max_retry must be at least 0, got -1", id="enqueue-max-retry"),
    pytest.param(["enqueue", "report", "--queue", "a b"],
                 lambda c: c.enqueue("report", queue="a b"), "queue name 'a b' is not valid",
                 id="enqueue-queue"),
    pytest.param(["enqueue", "report", "--timeout", "-1"],
                 lambda c: c.enqueue("report", timeout_seconds=-1),
                 "timeout must be more than 0 seconds, got -1", id="enqueue-timeout"),
    pytest.param(["enqueue", "report", "--priority", "-3000000000"],
                 lambda c: c.enqueue("report", priority=-3000000000),
                 "priority must be at least", id="enqueue-priority"),
    pytest.param(["cron", "add", "x", "--schedule", "61 * * * *", "--handler", "report"],
                 lambda c: c.add_cron_job("report", "x", expression="61 * * * *"),
                 "field 'minute' out of range 0-59", id="cron-expression"),
    pytest.param(["cron", "add", "x", "--schedule", "0 25 * * *", "--handler", "report"],
                 lambda c: c.add_cron_job("report", "x", hour=25),
                 "field 'hour' out of range 0-23", id="cron-field"),
    pytest.param(["cron", "add", "x", "--schedule", "* * * * * */5", "--handler", "report"],
                 lambda c: c.add_cron_job("report", "x", second="*/5"),
                 "fires every 5 s; the minimum is 60 s", id="cron-too-often"),
    pytest.param(["cron", "add", "x", "--schedule", "every 30s", "--handler", "report"],
                 lambda c: c.add_interval_job("report", "x", seconds=30),
                 "fires every 30 s; the minimum is 60 s", id="interval-too-often"),
    pytest.param(["cron", "add", "x", "--schedule", "2001-01-01T00:00:00+00:00", "--handler",
                  "report"],
                 lambda c: c.add_date_job("report", "x", "2001-01-01T00:00:00+00:00"),
                 "is in the past: it would never fire", id="date-in-the-past"),
    pytest.param(["cron", "add", "x", "--schedule", "@daily", "--handler", "report",
                  "--timezone", "Europe/Atlantis"],
                 lambda c: c.add_cron_job("report", "x", expression="@daily",
                                          timezone="Europe/Atlantis"),
                 "unknown time zone 'Europe/Atlantis'", id="cron-timezone"),
    pytest.param(["cron", "add", "bad name", "--schedule", "@daily", "--handler", "report"],
                 lambda c: c.add_cron_job("report", "bad name", expression="@daily"),
                 "cron name 'bad name' is not valid", id="cron-name"),
    pytest.param(["cron", "add", "x", "--schedule", "@daily", "--handler", "report",
                  "--max-retry", "-2"],
                 lambda c: c.add_cron_job("report", "x", expression="@daily", max_retry=-2),
                 "max_retry must be at least 0, got -2", id="cron-max-retry"),
    pytest.param(["cron", "add", "taken", "--schedule", "@daily", "--handler", "report"],
                 lambda c: c.add_cron_job("report", "taken", expression="@daily"),
                 "a cron named 'taken' already exists", id="cron-name-taken"),
    pytest.param(["cron", "add", "x", "--schedule", "@daily", "--handler", "typo", "--strict"],
                 lambda c: c.add_cron_job("typo", "x", expression="@daily", strict=True),
                 "no running worker serves handler 'typo' (known: report, resize)",
                 id="handler-not-served-strict"),
    pytest.param(["cron", "run-now", "nope"], lambda c: c.run_job_now("nope"),
                 "no cron named 'nope'", id="run-now-unknown"),
    pytest.param(["cron", "disable", "nope"], lambda c: c.pause_job("nope"),
                 "no cron named 'nope'", id="pause-unknown"),
    pytest.param(["cron", "enable", "nope"], lambda c: c.resume_job("nope"),
                 "no cron named 'nope'", id="resume-unknown"),
    pytest.param(["cron", "remove", "nope"], lambda c: c.remove_job("nope"),
                 "no cron named 'nope'", id="remove-unknown"),
    pytest.param(["cron", "show", "nope"], lambda c: c.get_job("nope"),
                 "no cron named 'nope'", id="show-unknown"),
    pytest.param(["jobs", "retry", "{pending}"], lambda c, pending: c.retry(pending),
                 "is PENDING; only a finished one can be retried", id="retry-pending"),
    pytest.param(["jobs", "cancel", "{finished}"], lambda c, finished: c.cancel(finished),
                 "has already finished (FAILED)", id="cancel-finished"),
    pytest.param(["jobs", "cancel", "987654"], lambda c: c.cancel(987654),
                 "no execution with id 987654", id="cancel-unknown"),
]


@pytest.mark.parametrize(("argv", "call", "says"), ERRORS)
def test_a_bad_value_gets_the_same_sentence_from_both(cli, client, store, argv, call, says):
    store.cron_create(CronSpec(name="taken", schedule="@daily", handler_name="report"))
    store.worker_register(WorkerInfo(id="host1-123", kind="worker", hostname="host1", pid=123,
                                     handlers=("report", "resize")))
    pending = store.execution_insert(NewExecution(handler_name="report", queue="p"))
    finished = store.execution_insert(NewExecution(handler_name="report", queue="f"))
    [claimed] = store.execution_claim("w1", ["f"], 1, 300)
    store.execution_fail(claimed.id, claimed.lease_token, "boom")
    names = {"pending": pending, "finished": finished}
    before = ([c.spec for c in store.cron_list()], [comparable(e) for e in executions(store)])

    from_cli = cli.error(*[part.format(**names) for part in argv])
    wanted = {name: value for name, value in names.items()
              if name in call.__code__.co_varnames[:call.__code__.co_argcount]}
    from_client = client_error(lambda: call(client, **wanted))

    assert from_cli == from_client
    assert says in from_cli
    assert ([c.spec for c in store.cron_list()],
            [comparable(e) for e in executions(store)]) == before, "nothing was written"


# --- the admin's API: the same sentences ------------------------------------------------------


@pytest.fixture
def admin_api(store, db_spec, tmp_path):
    """Requests to the admin's /api/v1 with an API token, on the test's database."""
    site = AdminSite.make(store, db_spec, tmp_path / "admin")
    client, token = site.app.test_client(), issue_api_token(store, "admin")

    def call(method: str, url: str, body: Any = None) -> Any:
        return client.open(f"/api/v1{url}", method=method, json=body,
                           headers={"Authorization": f"Bearer {token}"})
    yield call
    site.close()


ADMIN_ERRORS = [
    pytest.param(["cron", "add", "bad name", "--schedule", "@daily", "--handler", "report"],
                 ("POST", "/crons", {"name": "bad name", "schedule": "@daily",
                                     "handler_name": "report"}), id="cron-name"),
    pytest.param(["cron", "add", "x", "--schedule", "@daily", "--handler", "report",
                  "--max-retry", "-2"],
                 ("POST", "/crons", {"name": "x", "schedule": "@daily",
                                     "handler_name": "report", "max_retry": -2}),
                 id="cron-max-retry"),
    pytest.param(["cron", "add", "x", "--schedule", "0 3 * *", "--handler", "report"],
                 ("POST", "/crons", {"name": "x", "schedule": "0 3 * *",
                                     "handler_name": "report"}), id="cron-schedule"),
    pytest.param(["cron", "add", "taken", "--schedule", "@daily", "--handler", "report"],
                 ("POST", "/crons", {"name": "taken", "schedule": "@daily",
                                     "handler_name": "report"}), id="cron-name-taken"),
    pytest.param(["cron", "run-now", "nope"], ("POST", "/crons/nope/run", None),
                 id="run-now-unknown"),
    pytest.param(["cron", "disable", "nope"], ("POST", "/crons/nope/disable", None),
                 id="disable-unknown"),
    pytest.param(["cron", "remove", "nope"], ("DELETE", "/crons/nope", None),
                 id="remove-unknown"),
    pytest.param(["jobs", "retry", "{pending}"], ("POST", "/jobs/{pending}/retry", None),
                 id="retry-pending"),
    pytest.param(["jobs", "cancel", "{finished}"], ("POST", "/jobs/{finished}/cancel", None),
                 id="cancel-finished"),
]


@pytest.mark.parametrize(("argv", "request_"), ADMIN_ERRORS)
def test_a_bad_value_gets_the_same_sentence_from_the_admin(cli, admin_api, store, argv,
                                                           request_):
    store.cron_create(CronSpec(name="taken", schedule="@daily", handler_name="report"))
    pending = store.execution_insert(NewExecution(handler_name="report", queue="p"))
    finished = store.execution_insert(NewExecution(handler_name="report", queue="f"))
    [claimed] = store.execution_claim("w1", ["f"], 1, 300)
    store.execution_fail(claimed.id, claimed.lease_token, "boom")
    names = {"pending": pending, "finished": finished}
    method, url, body = request_

    from_cli = cli.error(*[part.format(**names) for part in argv])
    response = admin_api(method, url.format(**names), body)

    assert response.status_code >= 400, response.get_json()
    assert response.get_json()["error"]["message"] == from_cli
