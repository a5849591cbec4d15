"""Enqueuing: one execution, a list of them, or many copies of one.

Every check on an enqueued execution is here, so that `jobu enqueue`, the Client,
the admin and jobu-queued refuse a bad value with the same sentence.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from jobu.errors import InvalidInputError
from jobu.model import Isolation, NewExecution, ParamSource
from jobu.operations.types import check_number, check_text, check_whole_number
from jobu.store import Store
from jobu.store.store import BULK_TRANSACTION_ROWS
from jobu.validation import MAX_ENQUEUE_COUNT, check_enqueue_count, check_execution_options

__all__ = ["BULK_TRANSACTION_ROWS", "MAX_ENQUEUE_COUNT", "enqueue", "enqueue_copies",
           "enqueue_many", "new_execution"]


def new_execution(handler_name: str, params: Mapping[str, Any] | None = None, *,
                  priority: int = 0, queue: str = "default", max_retry: int = 0,
                  retry_backoff_seconds: float = 10.0, timeout_seconds: float | None = None,
                  run_after: datetime | None = None, dedupe_key: str | None = None,
                  isolation: Isolation | str = Isolation.THREAD,
                  source: ParamSource = ParamSource.MANUAL) -> NewExecution:
    """A checked execution to enqueue; InvalidInputError names the first bad value."""
    check_text(handler_name, "handler name")
    check_text(queue, "queue name")
    check_whole_number(priority, "priority")
    check_whole_number(max_retry, "max_retry")
    check_number(retry_backoff_seconds, "retry_backoff_seconds")
    check_number(timeout_seconds, "timeout", optional=True)
    check_execution_options(handler_name=handler_name, max_retry=max_retry,
                            timeout_seconds=timeout_seconds, queue=queue, priority=priority)
    if params is not None and not isinstance(params, Mapping):
        raise InvalidInputError(f"params must be a mapping, got {type(params).__name__}")
    if run_after is not None and run_after.tzinfo is None:
        raise InvalidInputError("run_after must be timezone-aware")
    if dedupe_key is not None and (not isinstance(dedupe_key, str) or not dedupe_key):
        raise InvalidInputError(f"a dedupe key is a non-empty string, got {dedupe_key!r}")
    try:
        isolation = Isolation(isolation)
    except ValueError:
        raise InvalidInputError(f"isolation must be 'thread' or 'process', got {isolation!r}") \
            from None
    return NewExecution(
        handler_name=handler_name, params=dict(params or {}), param_source=source,
        max_retry=max_retry, retry_backoff_seconds=retry_backoff_seconds,
        timeout_seconds=timeout_seconds, run_after=run_after, priority=priority, queue=queue,
        isolation=isolation, dedupe_key=dedupe_key)


def enqueue(store: Store, new: NewExecution) -> int:
    """Insert one execution; its id, or the id of the one its dedupe key already made."""
    inserted = store.execution_insert(new)
    if inserted is not None:
        return inserted
    existing = store.execution_get_by_dedupe_key(new.dedupe_key) if new.dedupe_key else None
    if existing is None:
        raise InvalidInputError("the execution was not inserted and no duplicate was found")
    return existing.id


def enqueue_many(store: Store, handler_name: str,
                 params_list: Iterable[Mapping[str, Any] | None], *,
                 count_name: str = "len(params_list)", **options: Any) -> list[int]:
    """One execution per params mapping, in one transaction (all or none); their ids.

    At most MAX_ENQUEUE_COUNT of them: the list is read no further than that, and
    every item is checked before anything is written (params that cannot be stored
    as JSON are refused by the store, in the transaction, so nothing is written then
    either).
    """
    if options.get("dedupe_key") is not None:
        raise InvalidInputError("enqueue_many takes no dedupe_key; use enqueue for each")
    items = list(itertools.islice(params_list, MAX_ENQUEUE_COUNT + 1))
    if not items:
        return []
    check_enqueue_count(len(items), count_name)
    news = [new_execution(handler_name, params, **options) for params in items]
    return [i for i in store.execution_insert_many(news) if i is not None]


def enqueue_copies(store: Store, new: NewExecution, count: int, *,
                   count_name: str = "count",
                   dedupe_name: str = "dedupe_key") -> Iterator[list[int | None]]:
    """`count` copies of one execution, BULK_TRANSACTION_ROWS per transaction.

    Checks first, then returns an iterator of each transaction's ids, which yields
    them once that transaction has committed: not all or nothing, so that the
    daemons keep working meanwhile. A dedupe key names one execution, so it is
    refused with more than one copy. `count_name` and `dedupe_name` are how the
    caller spells those options (`--count` on the command line).
    """
    check_enqueue_count(count, count_name)
    if new.dedupe_key and count > 1:
        raise InvalidInputError(f"{dedupe_name} names one execution; it cannot go with "
                                f"{count_name}")
    if new.dedupe_key:
        return iter([[enqueue(store, new)]])
    return store.execution_insert_bulk(itertools.repeat(new, count))
