"""The Python API for putting work into jobu from other programs.

    from jobu import Client

    with Client() as jobu:                          # reads /etc/jobu (or JOBU_CONFIG_DIR)
        job_id = jobu.enqueue("send_report", {"to": "ops"}, priority=5)
        print(jobu.get(job_id).status)

Enqueuing writes one row to the jobs database; a worker serving the handler's
queue runs it. A `dedupe_key` makes an enqueue idempotent: enqueuing the same key
again returns the id of the execution it already created.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from jobu.config import load_config, parse_database_url
from jobu.errors import InvalidInputError
from jobu.model import Execution, Isolation, NewExecution, ParamSource
from jobu.store import Store, open_store
from jobu.validation import MAX_ENQUEUE_COUNT, check_enqueue_count, check_execution_options


class Client:
    """A connection to jobu's jobs database, for enqueuing and looking up executions.

    With `database_url`, that database is used and no configuration is read;
    otherwise the jobs database of the configuration in `config_dir` (default:
    JOBU_CONFIG_DIR, else /etc/jobu). Thread-safe; close it when done.
    """

    def __init__(self, config_dir: str | Path | None = None,
                 database_url: str | None = None) -> None:
        if database_url is not None:
            spec = parse_database_url(database_url)
        else:
            spec = load_config(config_dir).jobs_database
        self._store: Store = open_store(spec)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._store.close()

    def enqueue(self, handler_name: str, params: Mapping[str, Any] | None = None, *,
                priority: int = 0, queue: str = "default", max_retry: int = 0,
                retry_backoff_seconds: float = 10.0, timeout_seconds: float | None = None,
                run_after: datetime | None = None, dedupe_key: str | None = None,
                isolation: Isolation | str = Isolation.THREAD) -> int:
        """Create one execution of `handler_name`; return its id."""
        new = self._new(handler_name, params, priority=priority, queue=queue,
                        max_retry=max_retry, retry_backoff_seconds=retry_backoff_seconds,
                        timeout_seconds=timeout_seconds, run_after=run_after,
                        dedupe_key=dedupe_key, isolation=isolation)
        inserted = self._store.execution_insert(new)
        return inserted if inserted is not None else self._existing(dedupe_key)

    def enqueue_many(self, handler_name: str, params_list: Iterable[Mapping[str, Any] | None],
                     **options: Any) -> list[int]:
        """Create one execution per params mapping, all in one transaction; return the ids.

        At most MAX_ENQUEUE_COUNT of them (InvalidInputError beyond, before any is made).
        """
        if options.get("dedupe_key") is not None:
            raise InvalidInputError("enqueue_many takes no dedupe_key; use enqueue for each")
        params_list = list(itertools.islice(params_list, MAX_ENQUEUE_COUNT + 1))
        if params_list:
            check_enqueue_count(len(params_list), "len(params_list)")
        news = [self._new(handler_name, params, **options) for params in params_list]
        return [i for i in self._store.execution_insert_many(news) if i is not None]

    def get(self, execution_id: int) -> Execution:
        """The execution as it is now (ExecutionNotFoundError if there is none)."""
        return self._store.execution_get(execution_id)

    def _new(self, handler_name: str, params: Mapping[str, Any] | None, *, priority: int = 0,
             queue: str = "default", max_retry: int = 0, retry_backoff_seconds: float = 10.0,
             timeout_seconds: float | None = None, run_after: datetime | None = None,
             dedupe_key: str | None = None,
             isolation: Isolation | str = Isolation.THREAD) -> NewExecution:
        check_execution_options(handler_name=handler_name, max_retry=max_retry,
                                timeout_seconds=timeout_seconds, queue=queue, priority=priority)
        if params is not None and not isinstance(params, Mapping):
            raise InvalidInputError(f"params must be a mapping, got {type(params).__name__}")
        if run_after is not None and run_after.tzinfo is None:
            raise InvalidInputError("run_after must be timezone-aware")
        try:
            isolation = Isolation(isolation)
        except ValueError:
            raise InvalidInputError(f"isolation must be 'thread' or 'process', got {isolation!r}") \
                from None
        return NewExecution(
            handler_name=handler_name, params=dict(params or {}), param_source=ParamSource.MANUAL,
            max_retry=max_retry, retry_backoff_seconds=retry_backoff_seconds,
            timeout_seconds=timeout_seconds, run_after=run_after, priority=priority, queue=queue,
            isolation=isolation, dedupe_key=dedupe_key)

    def _existing(self, dedupe_key: str | None) -> int:
        existing = self._store.execution_get_by_dedupe_key(dedupe_key) if dedupe_key else None
        if existing is None:
            raise InvalidInputError("the execution was not inserted and no duplicate was found")
        return existing.id
