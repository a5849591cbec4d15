"""Turning rows into jobu's records, and records into query parameters.

The dialects return timestamps, booleans and JSON in their own forms (text in
SQLite, naive UTC in MySQL, 0/1 for booleans); this is the one place they become
the model's types.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from jobu.errors import InvalidInputError
from jobu.model import (
    AttemptError,
    CatchUp,
    CronJob,
    CronSpec,
    DstRepeat,
    Execution,
    Isolation,
    ParamSource,
    Status,
    WorkerInfo,
)

ParseTime = Callable[[Any], datetime | None]


def to_json(value: Any, what: str) -> str:
    """JSON text for storage; InvalidInputError names what could not be stored."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} is not JSON-serialisable: {exc}") from exc


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


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
    return Execution(
        id=row["id"], job_id=row["job_id"], handler_name=row["handler_name"],
        params=from_json(row["params"]), param_source=ParamSource(row["param_source"]),
        scheduled_time=parse_time(row["scheduled_time"]), status=Status(row["status"]),
        attempt=row["attempt"], max_retry=row["max_retry"],
        retry_backoff_seconds=float(row["retry_backoff_seconds"]),
        timeout_seconds=_float_or_none(row["timeout_seconds"]),
        run_after=parse_time(row["run_after"]), priority=row["priority"], queue=row["queue"],
        isolation=Isolation(row["isolation"]), worker_id=row["worker_id"],
        lease_token=row["lease_token"], lease_expires_at=parse_time(row["lease_expires_at"]),
        cancel_requested=bool(row["cancel_requested"]),
        started_at=parse_time(row["started_at"]), finished_at=parse_time(row["finished_at"]),
        result=from_json(row["result"]), error_message=row["error_message"],
        dedupe_key=row["dedupe_key"], progress=_float_or_none(row["progress"]),
        progress_note=row["progress_note"], created_at=parse_time(row["created_at"]),
        updated_at=parse_time(row["updated_at"]), cron_name=row.get("cron_name"),
    )


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
