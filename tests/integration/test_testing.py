"""jobu.testing: the sample handlers run in-process against real SQLite, PostgreSQL and MariaDB,
with no worker and no jobs database; outcomes as the worker would record them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from jobu.errors import HandlerError, PermanentError, RetryLater
from jobu.handlers import JobContext, handler
from jobu.model import Status
from jobu.testing import HandlerRunner, run_handler
from tests.integration.test_sample_handlers import EXPECTED, ITEMS

pytest_plugins = ["jobu.pytest_plugin"]


@pytest.fixture
def jobu_databases(fresh_database) -> dict:
    """The databases the sample handlers use, each a fresh one of this test."""
    return {"default": fresh_database("sqlite"), "sqlite_2": fresh_database("sqlite"),
            "postgres_1": fresh_database("postgres"), "mysql_1": fresh_database("mysql")}


@pytest.mark.parametrize("name", ["sqlite_crud", "postgres_crud", "mysql_crud",
                                  "sync_postgres_to_mysql", "multi_db_report"])
def test_a_sample_handler_runs_twice_with_its_documented_results(jobu_databases, name):
    with HandlerRunner(jobu_databases, handler_modules=["handlers"]) as runner:
        for expected in EXPECTED[name]:
            run = runner.run(name)
            assert run.succeeded, run.traceback
            assert run.result == expected


@pytest.fixture
def jobu_config_dir(tmp_path):
    """A configuration whose worker.yaml loads the samples; its `default` database is replaced
    by the test's (jobu_databases)."""
    (tmp_path / "worker.yaml").write_text("handler_modules: [handlers]\n")
    (tmp_path / "database.yaml").write_text(f"state_directory: {tmp_path}\n")
    return tmp_path


def test_the_fixture_runs_a_sample_by_name_over_the_configured_database(jobu_runner):
    run = jobu_runner.run("sqlite_crud")
    assert (run.status, run.result["items"]) == (Status.SUCCESS, ITEMS)


@handler("testing.inspect")
def inspect(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.progress(0.5, "half way")
    ctx.progress(1.0)
    if params.get("fail") == "retry-later":
        raise RetryLater(30)
    if params.get("fail") == "permanent":
        raise PermanentError("no such customer")
    if params.get("fail"):
        raise ValueError("boom")
    return {"attempt": ctx.attempt, "cron": ctx.cron_name, "cancelled": ctx.cancelled,
            "scheduled": ctx.scheduled_time.isoformat(), "params": params}


def test_the_context_carries_attempt_schedule_cron_progress_and_cancel():
    tick = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    run = run_handler(inspect, {"a": 1}, attempt=2, max_retry=3, scheduled_time=tick,
                      cron_name="nightly", cancelled=True)
    assert run.succeeded
    assert run.result == {"attempt": 2, "cron": "nightly", "cancelled": True,
                          "scheduled": "2026-12-01T03:00:00+00:00", "params": {"a": 1}}
    assert run.progress == [(0.5, "half way"), (1.0, None)]


def test_failures_end_as_the_worker_would_record_them():
    retry = run_handler(inspect, {"fail": True}, max_retry=1)
    assert (retry.status, retry.error) == (Status.RETRY, "ValueError: boom")
    assert retry.retry_delay_seconds > 0 and isinstance(retry.exception, ValueError)
    assert "raise ValueError" in retry.traceback
    assert run_handler(inspect, {"fail": True}, attempt=2, max_retry=1).status is Status.FAILED
    later = run_handler(inspect, {"fail": "retry-later"}, max_retry=1)
    assert (later.status, later.retry_delay_seconds) == (Status.RETRY, 30)
    permanent = run_handler(inspect, {"fail": "permanent"}, max_retry=5)
    assert permanent.status is Status.FAILED and "no such customer" in permanent.error


def test_an_unknown_handler_or_database_is_said_plainly():
    with HandlerRunner() as runner, pytest.raises(HandlerError, match="no handler named 'nope'"):
        runner.run("nope")
    with HandlerRunner(handler_modules=["handlers"]) as runner:
        failed = runner.run("sqlite_crud")
    assert failed.status is Status.FAILED
    assert "needs a SQLite database named 'default'" in failed.error
