"""Executions: list, look up, retry and cancel them.

The filters an operator types (statuses, a cron's name, times) are checked and
resolved here, so the CLI and the Client refuse them with the same sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from jobu.errors import ExecutionNotFoundError, InvalidInputError, InvalidStateError
from jobu.model import (
    AttemptError,
    Execution,
    ExecutionFilter,
    ExecutionPage,
    ParamSource,
    Status,
)
from jobu.store import Store

__all__ = ["BULK_ACTION_LIMIT", "BulkOutcome", "BulkPreview", "ExecutionDetail",
           "cancel_execution", "cancel_executions", "execution_filter", "get_execution",
           "list_executions", "parse_execution_ids", "parse_statuses", "parse_time_bound",
           "preview_bulk", "retry_execution", "retry_executions"]

#: The most executions one bulk retry or cancel may match. Each one goes through the single
#: action's own short transaction (the same checks, the same lease handling), so a bulk
#: action costs one round trip per execution: this keeps one within an HTTP request's time.
BULK_ACTION_LIMIT = 1000


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


def parse_time_bound(text: str | None, what: str) -> datetime | None:
    """One end of a time range as typed: ISO 8601, in UTC when it gives no offset; None blank.

    The admin's `from` and `to` (page and API) are refused with this sentence, naming the
    field as the caller spells it. (`jobu jobs list --since/--until` also take ages, and
    say so in theirs: jobu.cli.context.parse_time.)
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{what} must be an ISO 8601 time such as 2026-03-01T12:00 (UTC) or "
            f"2026-03-01T12:00+02:00, got {text!r}") from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def parse_execution_ids(text: str | None, what: str = "ids") -> tuple[int, ...] | None:
    """Execution ids separated by commas (`12,13,20`); None when blank."""
    names = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not names:
        return None
    if not all(name.isdigit() for name in names):
        raise InvalidInputError(f"{what} takes execution ids separated by commas, got {text!r}")
    return tuple(int(name) for name in names)


def execution_filter(store: Store, *, statuses: Iterable[Status | str] | None = None,
                     cron_name: str | None = None, handler_name: str | None = None,
                     source: ParamSource | str | None = None, since: datetime | None = None,
                     until: datetime | None = None, ids: Iterable[int] | None = None,
                     status_name: str = "status", since_name: str = "since",
                     until_name: str = "until") -> ExecutionFilter:
    """The filter of a listing or a bulk action from what an operator typed, checked.

    The time range is on the scheduled time (a cron's tick; for any other execution the
    time it was created) and is half-open: `since` included, `until` not. The `*_name`
    arguments are how the caller spells those fields (`--since`, `from`).
    """
    wanted = parse_statuses(statuses, status_name)
    if source is not None:
        try:
            source = ParamSource(source)
        except ValueError:
            known = ", ".join(p.value for p in ParamSource)
            raise InvalidInputError(f"source must be one of {known}, got {source!r}") from None
    for name, value in ((since_name, since), (until_name, until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInputError(f"{name} must be timezone-aware")
    if since is not None and until is not None and since >= until:
        raise InvalidInputError(f"{since_name} must be before {until_name}")
    return ExecutionFilter(
        statuses=wanted,
        job_id=store.cron_get(cron_name).id if cron_name else None,
        handler_name=handler_name, param_source=source, since=since, until=until,
        ids=None if ids is None else tuple(ids))


def list_executions(store: Store, *, statuses: Iterable[Status | str] | None = None,
                    cron_name: str | None = None, handler_name: str | None = None,
                    source: ParamSource | str | None = None, since: datetime | None = None,
                    until: datetime | None = None, ids: Iterable[int] | None = None,
                    limit: int = 50, before_id: int | None = None, limit_name: str = "limit",
                    status_name: str = "status", since_name: str = "since",
                    until_name: str = "until") -> ExecutionPage:
    """One page of executions, newest first; pass the page's next_cursor as `before_id`.

    Statuses may be names (see parse_statuses); `ids` (a page's rows, for its live refresh)
    may be at most `limit`. `limit_name`, `status_name`, `since_name` and `until_name` are
    how the caller spells those options (`--limit`, `--status` on the command line).
    """
    if limit < 1:
        raise InvalidInputError(f"{limit_name} must be at least 1, got {limit}")
    if ids is not None:
        ids = tuple(ids)
        if len(ids) > limit:
            raise InvalidInputError(f"ids takes at most {limit} ids ({limit_name}), "
                                    f"got {len(ids)}")
    where = execution_filter(store, statuses=statuses, cron_name=cron_name,
                             handler_name=handler_name, source=source, since=since,
                             until=until, ids=ids, status_name=status_name,
                             since_name=since_name, until_name=until_name)
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


@dataclass(frozen=True)
class BulkPreview:
    """What a bulk retry or cancel of a filter would touch, counted before asking."""

    #: How many executions the filter matches (at most `limit` + 1: `over_limit` then).
    matched: int
    #: Of those, how many have finished (a retry would run them again).
    finished: int
    #: ... and how many wait or run (a cancel would stop them).
    waiting_or_running: int
    limit: int

    @property
    def over_limit(self) -> bool:
        return self.matched > self.limit


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk action did: of `matched` executions, `done` acted on, `skipped` not (their
    state did not allow it, or they were pruned meanwhile). `stopping`: cancels of running
    executions, whose workers were asked to stop them (counted in `done`)."""

    matched: int
    done: int
    skipped: int
    stopping: int = 0


def preview_bulk(store: Store, where: ExecutionFilter,
                 limit: int | None = None) -> BulkPreview:
    """How many executions `where` matches, and how many of them each action would take.
    InvalidInputError without a filter, as the actions."""
    _check_bulk_filter(where)
    limit = BULK_ACTION_LIMIT if limit is None else limit
    matched, unfinished = store.execution_count_states(where, limit + 1)
    return BulkPreview(matched, matched - unfinished, unfinished, limit)


def retry_executions(store: Store, where: ExecutionFilter,
                     limit: int | None = None) -> BulkOutcome:
    """Run again, from attempt 1, every finished execution `where` matches (oldest first).

    Each goes through retry_execution, so one whose state changed meanwhile is skipped as a
    single retry would refuse it. InvalidInputError without a filter or over `limit`
    (BULK_ACTION_LIMIT by default).
    """
    return _bulk(store, where, limit, lambda status: status.is_final, retry_execution)


def cancel_executions(store: Store, where: ExecutionFilter,
                      limit: int | None = None) -> BulkOutcome:
    """Cancel every waiting execution `where` matches, and ask the workers of running ones
    to stop them: each through cancel_execution, exactly as one at a time (oldest first).
    InvalidInputError without a filter or over `limit`."""
    return _bulk(store, where, limit, lambda status: not status.is_final, cancel_execution)


def _bulk(store: Store, where: ExecutionFilter, limit: int | None,
          allowed: Callable[[Status], bool],
          act: Callable[[Store, int], Execution]) -> BulkOutcome:
    _check_bulk_filter(where)
    limit = BULK_ACTION_LIMIT if limit is None else limit
    states = store.execution_list_states(where, limit + 1)
    if len(states) > limit:
        raise InvalidInputError(
            f"the filter matches more than {limit:,} jobs, the most one bulk retry or cancel "
            "acts on: narrow it (a status, a cron, a handler or a shorter time range)")
    done = stopping = 0
    for execution_id, status in sorted(states):
        if not allowed(status):
            continue
        try:
            after = act(store, execution_id)
        except (InvalidStateError, ExecutionNotFoundError):
            continue
        done += 1
        stopping += after.status is Status.RUNNING
    return BulkOutcome(len(states), done, len(states) - done, stopping)


def _check_bulk_filter(where: ExecutionFilter) -> None:
    if where == ExecutionFilter():
        raise InvalidInputError("a bulk retry or cancel needs a filter (status, cron, handler, "
                                "source or a time range): it never acts on every job")
