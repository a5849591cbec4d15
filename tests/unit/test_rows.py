"""Rows into records: the fast paths of the claim give exactly what the plain ways give."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from jobu.db.mysql import MysqlDialect
from jobu.db.postgres import PostgresDialect
from jobu.db.sqlite import SqliteDialect
from jobu.model import DatabaseSpec, Execution, Isolation, ParamSource, Status
from jobu.store import rows

SPEC = DatabaseSpec(name="jobs", driver="sqlite", path=":memory:")


def same(a: datetime | None, b: datetime | None) -> bool:
    """Equal, and alike in every visible way (equality alone ignores the zone)."""
    return a == b and repr(a) == repr(b) and (a is None or (a.tzinfo, a.fold) == (b.tzinfo,
                                                                                  b.fold))


@pytest.mark.parametrize("text", [
    "2026-03-01 12:00:00.000000", "2026-03-01 12:00:00.123456", "2026-03-01 12:00:00",
    "2026-03-01T12:00:00.5", "2026-03-01 12:00:00.123", "2026-03-01",
    "2026-03-01 12:00:00+02:00", "9999-12-31 23:59:59.999999", "0001-01-01 00:00:00.000000",
])
def test_sqlite_parse_time_is_the_plain_parse(text):
    expected = datetime.fromisoformat(text).replace(tzinfo=UTC)
    assert same(SqliteDialect(SPEC).parse_time(text), expected)


@pytest.mark.parametrize("value", [
    datetime(2026, 3, 1, 12, 0, 0, 123456),
    datetime(2026, 10, 25, 1, 30, fold=1),
    datetime(2026, 3, 1, 12, tzinfo=ZoneInfo("Etc/UTC")),
    datetime(2026, 3, 1, 12, tzinfo=ZoneInfo("Europe/Paris")),
    datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=-3))),
    datetime(2026, 3, 1, 12, tzinfo=UTC),
    None,
])
def test_postgres_and_mysql_parse_time_are_the_plain_conversions(value):
    def plain(v):
        if v is None:
            return None
        return v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)
    for dialect in (PostgresDialect, MysqlDialect):
        assert same(dialect.parse_time(None, value), plain(value)), dialect


def test_execution_from_row_builds_what_the_constructor_builds():
    row = {
        "id": 7, "job_id": 3, "handler_name": "noop", "params": '{"a": [1, 2]}',
        "param_source": "cron", "scheduled_time": "2026-03-01 12:00:00.000000",
        "status": "RUNNING", "attempt": 2, "max_retry": 3, "retry_backoff_seconds": 10,
        "timeout_seconds": 5, "run_after": "2026-03-01 12:00:01.000000", "priority": 4,
        "queue": "reports", "isolation": "process", "worker_id": "w1", "lease_token": "t",
        "lease_expires_at": "2026-03-01 12:00:31.000000", "cancel_requested": 1,
        "started_at": "2026-03-01 12:00:01.500000", "finished_at": None,
        "result": '{"ok": true}', "error_message": None, "dedupe_key": "k", "progress": 0,
        "progress_note": None, "created_at": "2026-03-01 11:59:00.000000",
        "updated_at": "2026-03-01 12:00:01.500000", "cron_name": "report",
    }
    built = rows.execution_from_row(row, SqliteDialect(SPEC).parse_time)
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    expected = Execution(
        id=7, job_id=3, handler_name="noop", params={"a": [1, 2]},
        param_source=ParamSource.CRON, scheduled_time=at, status=Status.RUNNING, attempt=2,
        max_retry=3, retry_backoff_seconds=10.0, timeout_seconds=5.0,
        run_after=at + timedelta(seconds=1), priority=4, queue="reports",
        isolation=Isolation.PROCESS, worker_id="w1", lease_token="t",
        lease_expires_at=at + timedelta(seconds=31), cancel_requested=True,
        started_at=at + timedelta(seconds=1.5), finished_at=None, result={"ok": True},
        error_message=None, dedupe_key="k", progress=0.0, progress_note=None,
        created_at=at - timedelta(minutes=1), updated_at=at + timedelta(seconds=1.5),
        cron_name="report")
    assert built == expected
    assert vars(built) == vars(expected)
    assert [type(v) for v in vars(built).values()] == [type(v) for v in vars(expected).values()]
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.status = Status.SUCCESS  # type: ignore[misc]
    with pytest.raises(ValueError):
        rows.execution_from_row({**row, "status": "BOGUS"}, SqliteDialect(SPEC).parse_time)


def test_fast_constructor_falls_back_to_init_where_init_does_work():
    @dataclasses.dataclass(frozen=True)
    class Checked:
        x: int

        def __post_init__(self):
            if self.x < 0:
                raise ValueError("negative")

    with pytest.raises(ValueError):
        rows.fast_constructor(Checked)({"x": -1})
    assert rows.fast_constructor(Checked)({"x": 1}) == Checked(1)
