"""Executions: list, look up, retry and cancel them.

The filters an operator types (statuses, a cron's name, times) are checked and
resolved here, so the CLI and the Client refuse them with the same sentence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from jobu.errors import InvalidInputError
from jobu.model import AttemptError, Execution, ExecutionFilter, ExecutionPage, ParamSource, Status
from jobu.store import Store

__all__ = ["ExecutionDetail", "cancel_execution", "get_execution", "list_executions",
           "parse_statuses", "retry_execution"]


@dataclass(frozen=True)
class ExecutionDetail:
    """One execution with the error that ended each of its failed attempts."""

    execution: Execution
    attempt_errors: list[AttemptError]


def parse_statuses(values: Iterable[Status | str] | None,
                   what: str = "status") -> tuple[Status, ...] | None:
    """Statuses from names (any case; several per value, comma-separated); None for any."""
    values = list(values or ())
    if not values:
        return None
    names = [name.strip().upper() for value in values for name in str(value).split(",")
             if name.strip()]
    known = ", ".join(s.value for s in Status)
    if not names:
        raise InvalidInputError(f"{what} needs a status: {known}")
    try:
        return tuple(Status(name) for name in names)
    except ValueError:
        raise InvalidInputError(f"{what} takes {known}; got {', '.join(map(str, values))}") \
            from None


def list_executions(store: Store, *, statuses: Iterable[Status | str] | None = None,
                    cron_name: str | None = None, handler_name: str | None = None,
                    source: ParamSource | str | None = None, since: datetime | None = None,
                    until: datetime | None = None, limit: int = 50,
                    before_id: int | None = None, limit_name: str = "limit",
                    status_name: str = "status") -> ExecutionPage:
    """One page of executions, newest first; pass the page's next_cursor as `before_id`.

    Statuses may be names (see parse_statuses). `limit_name` and `status_name` are
    how the caller spells those options (`--limit`, `--status` on the command line).
    """
    if limit < 1:
        raise InvalidInputError(f"{limit_name} must be at least 1, got {limit}")
    wanted = parse_statuses(statuses, status_name)
    if source is not None:
        try:
            source = ParamSource(source)
        except ValueError:
            known = ", ".join(p.value for p in ParamSource)
            raise InvalidInputError(f"source must be one of {known}, got {source!r}") from None
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInputError(f"{name} must be timezone-aware")
    where = ExecutionFilter(
        statuses=wanted,
        job_id=store.cron_get(cron_name).id if cron_name else None,
        handler_name=handler_name, param_source=source, since=since, until=until)
    return store.execution_list(where, limit=limit, cursor=before_id)


def get_execution(store: Store, execution_id: int) -> ExecutionDetail:
    """The execution and its attempts' errors; ExecutionNotFoundError if there is none."""
    execution = store.execution_get(execution_id)
    return ExecutionDetail(execution, store.execution_errors(execution.id))


def retry_execution(store: Store, execution_id: int) -> Execution:
    """Run a finished execution again from attempt 1; InvalidStateError if it is not."""
    return store.execution_requeue(execution_id)


def cancel_execution(store: Store, execution_id: int) -> Execution:
    """Cancel a waiting execution, or ask the worker running it to stop.

    The execution comes back CANCELLED, or still RUNNING with cancel_requested set.
    InvalidStateError if it has already finished.
    """
    return store.execution_request_cancel(execution_id)
