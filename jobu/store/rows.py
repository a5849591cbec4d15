"""Turning rows into jobu's records, and records into query parameters.

The dialects return timestamps, booleans and JSON in their own forms (text in
SQLite, naive UTC in MySQL, 0/1 for booleans); this is the one place they become
the model's types.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from jobu.errors import InvalidInputError
from jobu.model import (
    AttemptError,
    CatchUp,
    CronJob,
    CronSpec,
    DstRepeat,
    Execution,
    Isolation,
    NewExecution,
    ParamSource,
    RecentRuns,
    Status,
    WorkerInfo,
)

ParseTime = Callable[[Any], datetime | None]
T = TypeVar("T")


#: One encoder for all: json.dumps with an option builds a new encoder at every call.
_JSON = json.JSONEncoder(allow_nan=False)


def to_json(value: Any, what: str) -> str:
    """JSON text for storage; InvalidInputError names what could not be stored."""
    try:
        return _JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} is not JSON-serialisable: {exc}") from exc


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# --- batches: many rows in one statement ----------------------------------------------
#
# A statement that writes many rows takes them as ONE parameter: a JSON array with an
# array per row (SQLite reads it with json_each, PostgreSQL with jsonb_array_elements,
# MySQL with JSON_TABLE). One parameter keeps every statement under the drivers' and
# servers' limits on bound parameters, and the SQL stays the same whatever the row count.
# Times travel as UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff': SQLite's own storage format,
# which PostgreSQL and MySQL read as a UTC timestamp.

#: The fields of an execution in a batch insert, in the order `execution_insert_batch`
#: reads them (by position) in every dialect.
EXECUTION_BATCH_FIELDS = (
    "job_id", "handler_name", "params", "param_source", "scheduled_time", "status",
    "max_retry", "retry_backoff_seconds", "timeout_seconds", "run_after", "priority", "queue",
    "isolation", "dedupe_key", "error_message", "final",
)


def utc_text(value: datetime | None) -> str | None:
    """A time as batch rows carry it: UTC text with microseconds, or None."""
    return None if value is None else _utc_text(value)


@functools.lru_cache(maxsize=4096)  # the rows of one pass share a few ticks
def _utc_text(value: datetime) -> str:
    if value.tzinfo is None:
        raise InvalidInputError(f"naive datetime {value!r} given to the database; use UTC")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def batch_row(values: Sequence[Any]) -> str:
    """One row of a batch parameter: a JSON array (times as utc_text made them)."""
    try:
        return _JSON.encode(values)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"a value cannot be stored: {exc}") from exc


def batch(texts: Iterable[str]) -> str:
    """The batch parameter made of rows from batch_row."""
    return "[" + ",".join(texts) + "]"


def execution_batch_row(new: NewExecution) -> str:
    """One execution to insert, as a batch row (EXECUTION_BATCH_FIELDS)."""
    return batch_row((
        new.job_id, new.handler_name, to_json(new.params, "params"), new.param_source.value,
        utc_text(new.scheduled_time), new.status.value, new.max_retry,
        new.retry_backoff_seconds, new.timeout_seconds, utc_text(new.run_after), new.priority,
        new.queue, new.isolation.value, new.dedupe_key, new.error_message,
        new.status.is_final))


def cron_params(spec: CronSpec) -> dict[str, Any]:
    return {
        "name": spec.name, "description": spec.description, "schedule": spec.schedule,
        "timezone": spec.timezone, "handler_name": spec.handler_name,
        "handler_params": to_json(spec.handler_params, "handler_params"),
        "is_enabled": spec.is_enabled, "allow_overlap": spec.allow_overlap,
        "catch_up": str(spec.catch_up), "misfire_grace_seconds": spec.misfire_grace_seconds,
        "catch_up_max_runs": spec.catch_up_max_runs, "dst_repeat": str(spec.dst_repeat),
        "jitter_seconds": spec.jitter_seconds, "max_retry": spec.max_retry,
        "retry_backoff_seconds": spec.retry_backoff_seconds,
        "timeout_seconds": spec.timeout_seconds, "priority": spec.priority,
        "queue": spec.queue, "isolation": str(spec.isolation),
    }


class CronHead(NamedTuple):
    """What cron_due_heads reads of a due cron: is a copy current, and its ticks now."""

    id: int
    version: int
    updated_at: datetime
    last_tick_at: datetime | None
    next_tick_at: datetime | None


def json_array(value: str | list | None) -> list:
    """A JSON array a statement built: text (SQLite, MariaDB), or a list (psycopg decodes
    json); NULL is empty."""
    return json.loads(value) if isinstance(value, str) else value or []


def cron_heads(value: str | list | None) -> list[CronHead]:
    """The heads in cron_due_heads' JSON array, in cron_due's order: unplanned crons
    first, then by planned tick, then by id."""
    found = json_array(value)
    heads = [CronHead(int(i), int(version), _json_time(updated), _json_time(last),
                      _json_time(following)) for i, version, updated, last, following in found]
    heads.sort(key=lambda h: (h.next_tick_at is not None, h.next_tick_at or _EPOCH, h.id))
    return heads


@functools.lru_cache(maxsize=4096)  # at the top of the hour, thousands of heads share a tick
def _json_time(text: str | None) -> datetime | None:
    """A time from a database's JSON: ISO 8601 text, with an offset or in UTC."""
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def cron_from_row(row: dict[str, Any], parse_time: ParseTime) -> CronJob:
    return CronJob(
        id=row["id"], name=row["name"], description=row["description"],
        schedule=row["schedule"], timezone=row["timezone"], handler_name=row["handler_name"],
        handler_params=from_json(row["handler_params"]) or {},
        is_enabled=bool(row["is_enabled"]), allow_overlap=bool(row["allow_overlap"]),
        catch_up=CatchUp(row["catch_up"]), misfire_grace_seconds=row["misfire_grace_seconds"],
        catch_up_max_runs=row["catch_up_max_runs"], dst_repeat=DstRepeat(row["dst_repeat"]),
        jitter_seconds=row["jitter_seconds"], max_retry=row["max_retry"],
        retry_backoff_seconds=float(row["retry_backoff_seconds"]),
        timeout_seconds=_float_or_none(row["timeout_seconds"]), priority=row["priority"],
        queue=row["queue"], isolation=Isolation(row["isolation"]),
        last_tick_at=parse_time(row["last_tick_at"]),
        next_tick_at=parse_time(row["next_tick_at"]), version=row["version"],
        created_at=parse_time(row["created_at"]), updated_at=parse_time(row["updated_at"]),
    )


def execution_from_row(row: dict[str, Any], parse_time: ParseTime) -> Execution:
    """The Execution of a row of job_executions (with its cron's name, when selected)."""
    return _make_execution({
        **_claim_columns(row, parse_time),
        "status": _STATUSES.get(row["status"]) or Status(row["status"]),
        "worker_id": row["worker_id"], "lease_token": row["lease_token"],
        "finished_at": parse_time(row["finished_at"]), "result": from_json(row["result"]),
        "progress": _float_or_none(row["progress"]), "progress_note": row["progress_note"],
        "updated_at": parse_time(row["updated_at"]), "cron_name": row.get("cron_name"),
    })


def claimed_execution_from_row(row: dict[str, Any], parse_time: ParseTime, *,
                               worker_id: str, lease_token: str) -> Execution:
    """The Execution a claim took, from the columns the claim returns.

    The claim statement returns only what it did not set itself: the status (RUNNING), the
    worker and its lease token come from the claim's parameters, the progress and the result
    were just cleared, and updated_at is the start. On PostgreSQL, decoding the columns a
    claim returns was the largest single cost of a no-op job (most of it the timestamps).
    """
    fields = _claim_columns(row, parse_time)
    return _make_execution({
        **fields, "status": Status.RUNNING, "worker_id": worker_id, "lease_token": lease_token,
        "finished_at": None, "result": None, "progress": None, "progress_note": None,
        "updated_at": fields["started_at"], "cron_name": row["cron_name"],
    })


def _claim_columns(row: dict[str, Any], parse_time: ParseTime) -> dict[str, Any]:
    """The fields of an Execution from the columns a claim returns (all but the claim's own)."""
    float_or_none = _float_or_none
    return {
        "id": row["id"], "job_id": row["job_id"], "handler_name": row["handler_name"],
        "params": from_json(row["params"]),
        "param_source": _PARAM_SOURCES.get(row["param_source"]) or ParamSource(
            row["param_source"]),
        "scheduled_time": parse_time(row["scheduled_time"]),
        "attempt": row["attempt"], "max_retry": row["max_retry"],
        "retry_backoff_seconds": float(row["retry_backoff_seconds"]),
        "timeout_seconds": float_or_none(row["timeout_seconds"]),
        "run_after": parse_time(row["run_after"]), "priority": row["priority"],
        "queue": row["queue"],
        "isolation": _ISOLATIONS.get(row["isolation"]) or Isolation(row["isolation"]),
        "lease_expires_at": parse_time(row["lease_expires_at"]),
        "cancel_requested": bool(row["cancel_requested"]),
        "started_at": parse_time(row["started_at"]), "error_message": row["error_message"],
        "dedupe_key": row["dedupe_key"], "created_at": parse_time(row["created_at"]),
    }


def fast_constructor(cls: type[T]) -> Callable[[dict[str, Any]], T]:
    """A maker of `cls` (a frozen dataclass) from a dict of all its fields, by name.

    A frozen dataclass's __init__ sets each field through object.__setattr__, which for
    Execution's 31 fields costs more than parsing its row. When `cls` has nothing its
    __init__ must run (no __post_init__, no __slots__, every field an init field), the
    maker fills the new instance's __dict__ directly: the same object, several times
    faster. Otherwise it calls cls(**values).
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if (hasattr(cls, "__post_init__") or "__slots__" in cls.__dict__
            or not all(f.init for f in fields)):
        return lambda values: cls(**values)
    new = object.__new__
    names = tuple(f.name for f in fields)

    def make(values: dict[str, Any]) -> T:
        instance = new(cls)
        # In field order, as __init__ would set them; a missing field is a KeyError here.
        instance.__dict__.update(zip(names, map(values.__getitem__, names), strict=True))
        return instance
    return make


_make_execution = fast_constructor(Execution)
#: Enum members by value: a dict lookup instead of the enum's call.
_STATUSES = {member.value: member for member in Status}
_PARAM_SOURCES = {member.value: member for member in ParamSource}
_ISOLATIONS = {member.value: member for member in Isolation}


def recent_runs_from_row(row: dict[str, Any], parse_time: ParseTime) -> RecentRuns:
    """A row of admin_recent_runs: the cron's runs as [id, status] in any order, and the
    status and start of the newest that started."""
    started = parse_time(row["last_started_at"])
    return RecentRuns(
        statuses=tuple(Status(status) for _, status in sorted(json_array(row["runs"]),
                                                              reverse=True)),
        last_started=(Status(row["last_status"]), started) if started else None)


def attempt_error_from_row(row: dict[str, Any], parse_time: ParseTime) -> AttemptError:
    return AttemptError(
        execution_id=row["execution_id"], attempt=row["attempt"], status=Status(row["status"]),
        error_message=row["error_message"], traceback=row["traceback"],
        worker_id=row["worker_id"], occurred_at=parse_time(row["occurred_at"]),
    )


def worker_params(info: WorkerInfo) -> dict[str, Any]:
    return {
        "id": info.id, "kind": info.kind, "hostname": info.hostname, "pid": info.pid,
        "pool_size": info.pool_size, "running": info.running,
        "handlers": json.dumps(sorted(info.handlers)), "queues": json.dumps(list(info.queues)),
        "version": info.version,
    }


def worker_from_row(row: dict[str, Any], parse_time: ParseTime) -> WorkerInfo:
    return WorkerInfo(
        id=row["id"], kind=row["kind"], hostname=row["hostname"], pid=row["pid"],
        pool_size=row["pool_size"], running=row["running"],
        handlers=tuple(json.loads(row["handlers"])), queues=tuple(json.loads(row["queues"])),
        version=row["version"], started_at=parse_time(row["started_at"]),
        last_heartbeat=parse_time(row["last_heartbeat"]),
    )


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
