"""Testing handlers: run one in-process, with a real JobContext, and look at its outcome.

What Celery's ``task.apply()`` and procrastinate's in-memory connector give their users: no
worker, no dispatcher, no jobs database of jobu's own. The handler gets the context a worker
gives it (params loaded by its params_schema, attempt, scheduled time, cron name, progress,
``ctx.db(name)``, ``transactional(...)`` and ``get_connection(...)`` over the databases
given), and the run ends as the worker would record it: SUCCESS with the result, RETRY (and
the delay) while attempts are left, FAILED once they are not or when the error is permanent::

    from jobu.testing import HandlerRunner

    with HandlerRunner(databases={"app": "sqlite:////tmp/app.db"}) as runner:
        run = runner.run("visits.count", {"page": "/"})
        assert run.succeeded, run.error
        assert run.result == {"page": "/", "visits": 1}

The pytest fixture `jobu_runner` (jobu.pytest_plugin) makes one per test.

Limits, on purpose: the run is synchronous in the test's thread, so a timeout is not enforced
(pass ``cancelled=True`` to test a handler's cancellation path); two-phase commits over several
databases keep their decisions in memory, so there is no crash recovery to test here.
"""

from __future__ import annotations

import dataclasses
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobu.config import load_config, parse_database_url
from jobu.db import DatabaseRegistry, use_databases
from jobu.db.decisions import Branch, Decision
from jobu.errors import HandlerError
from jobu.executor import decide
from jobu.handlers import HandlerRegistry, HandlerSpec, JobContext, discover_handlers, spec_of
from jobu.model import DatabaseSpec, Execution, Isolation, OutcomeKind, ParamSource, Status

__all__ = ["HandlerRun", "HandlerRunner", "run_handler"]

#: A handler given to `run`: its name (found in the runner's handler paths and modules), or the
#: function or class @handler marked.
HandlerTarget = str | Callable[..., Any] | type


@dataclass(frozen=True)
class HandlerRun:
    """How one run of a handler ended, as the worker would record it."""

    #: SUCCESS; RETRY when the worker would run it again (attempts left, not permanent);
    #: FAILED when it would not.
    status: Status
    #: What the handler returned (SUCCESS only).
    result: Any = None
    #: The error as the history would show it ("ValueError: no such page").
    error: str | None = None
    #: The exception the handler raised, to re-raise or inspect.
    exception: BaseException | None = None
    traceback: str | None = None
    #: Seconds before the retry would run (RETRY only).
    retry_delay_seconds: float | None = None
    #: Each ctx.progress(fraction, note) call, in order.
    progress: list[tuple[float, str | None]] = field(default_factory=list)
    attempt: int = 1
    scheduled_time: datetime | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is Status.SUCCESS


class HandlerRunner:
    """Runs handlers in this process over the databases it is given; close() closes them.

    `databases`: name -> DatabaseSpec or URL (postgresql://…, mysql://…, sqlite:///…), the
    names handlers use in ``ctx.db(name)`` and ``transactional(name)``. `handler_paths` and
    `handler_modules` are searched for handlers run by name, as worker.yaml's are.
    """

    def __init__(self, databases: Mapping[str, DatabaseSpec | str] | None = None, *,
                 handler_paths: Iterable[str | Path] = (), handler_modules: Iterable[str] = (),
                 allow_best_effort_multi_commit: bool = False) -> None:
        specs = {name: dataclasses.replace(spec, name=name) if isinstance(spec, DatabaseSpec)
                 else parse_database_url(spec, name) for name, spec in (databases or {}).items()}
        self.databases = DatabaseRegistry(specs)
        self.allow_best_effort_multi_commit = allow_best_effort_multi_commit
        self._handler_paths = tuple(handler_paths)
        self._handler_modules = tuple(handler_modules)
        self._registry: HandlerRegistry | None = None
        self._decisions = MemoryDecisionLog()
        self._next_id = 1

    @classmethod
    def from_config(cls, config_dir: str | Path, *,
                    databases: Mapping[str, DatabaseSpec | str] | None = None) -> HandlerRunner:
        """A runner with the databases and handlers of a jobu configuration directory
        (database.yaml, worker.yaml), `databases` replacing some of them (a test database)."""
        config = load_config(config_dir, secrets_of=())
        given = {name: config.databases[name] for name in config.worker.databases}
        return cls({**given, **(databases or {})}, handler_paths=config.worker.handler_paths,
                   handler_modules=config.worker.handler_modules,
                   allow_best_effort_multi_commit=config.allow_best_effort_multi_commit)

    def __enter__(self) -> HandlerRunner:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        use_databases(None)
        self.databases.close()

    def handler(self, target: HandlerTarget) -> HandlerSpec:
        """The handler `target` names or is; HandlerError when there is none such."""
        if not isinstance(target, str):
            return spec_of(target)
        if self._registry is None:
            self._registry = discover_handlers(self._handler_paths, self._handler_modules)
        spec = self._registry.get(target)
        if spec is None:
            raise HandlerError(f"no handler named {target!r} (known: "
                               f"{', '.join(self._registry.names()) or 'none'}); give "
                               "handler_paths or handler_modules, or the function itself")
        return spec

    def run(self, target: HandlerTarget, params: Mapping[str, Any] | None = None, *,
            attempt: int = 1, max_retry: int = 0, retry_backoff_seconds: float = 10.0,
            scheduled_time: datetime | None = None, cron_name: str | None = None,
            cancelled: bool = False) -> HandlerRun:
        """Run the handler once, as attempt `attempt` of an execution allowed `max_retry`
        retries, and return how it ended. Errors of the handler become the run's outcome;
        a handler that cannot be found raises HandlerError."""
        spec = self.handler(target)
        execution = self._execution(spec, dict(params or {}), attempt, max_retry,
                                    retry_backoff_seconds, scheduled_time, cron_name)
        progress: list[tuple[float, str | None]] = []
        cancel = threading.Event()
        if cancelled:
            cancel.set()
        ctx = JobContext(execution_id=execution.id, handler_name=spec.name, attempt=attempt,
                         cron_name=cron_name, scheduled_time=execution.scheduled_time,
                         report_progress=lambda fraction, note: progress.append((fraction, note)),
                         databases=self.databases.get, cancel_event=cancel)
        use_databases(self.databases.get, decision_log=self._decisions,
                      allow_best_effort_multi_commit=self.allow_best_effort_multi_commit)
        result, error = None, None
        try:
            result = spec.invoke(ctx, spec.load_params(execution.params))
        except Exception as exc:  # noqa: BLE001 - every handler failure is an outcome
            error = exc
        outcome = decide(execution, result=result, error=error)
        status = Status.RETRY if outcome.kind is OutcomeKind.RETRY else outcome.status
        return HandlerRun(
            status=status, result=result if status is Status.SUCCESS else None,
            error=outcome.error, exception=error,
            traceback="".join(traceback.format_exception(error)) if error else None,
            retry_delay_seconds=outcome.delay if status is Status.RETRY else None,
            progress=progress, attempt=attempt, scheduled_time=execution.scheduled_time)

    def _execution(self, spec: HandlerSpec, params: dict[str, Any], attempt: int, max_retry: int,
                   retry_backoff_seconds: float, scheduled_time: datetime | None,
                   cron_name: str | None) -> Execution:
        now = datetime.now(UTC)
        execution_id, self._next_id = self._next_id, self._next_id + 1
        return Execution(
            id=execution_id, job_id=None, handler_name=spec.name, params=params,
            param_source=ParamSource.CRON if cron_name else ParamSource.MANUAL,
            scheduled_time=scheduled_time or now, status=Status.RUNNING, attempt=attempt,
            max_retry=max_retry, retry_backoff_seconds=retry_backoff_seconds,
            timeout_seconds=spec.timeout_seconds, run_after=now, priority=0, queue="default",
            isolation=spec.isolation or Isolation.THREAD, worker_id="jobu.testing",
            lease_token=None, lease_expires_at=None, cancel_requested=False, started_at=now,
            finished_at=None, result=None, error_message=None, dedupe_key=None, progress=None,
            progress_note=None, created_at=now, updated_at=now, cron_name=cron_name)


def run_handler(target: HandlerTarget, params: Mapping[str, Any] | None = None, *,
                databases: Mapping[str, DatabaseSpec | str] | None = None,
                **options: Any) -> HandlerRun:
    """Run one handler once (see HandlerRunner.run for `options`) and close its databases."""
    with HandlerRunner(databases) as runner:
        return runner.run(target, params, **options)


class MemoryDecisionLog:
    """The two-phase commit decision log, kept in memory: a handler's transaction over several
    databases commits as it would in a worker, with no jobs database to record it in."""

    database = None

    def __init__(self) -> None:
        self._decisions: dict[str, Decision] = {}
        self._lock = threading.Lock()

    def decision_log_id(self) -> str:
        return "7e57ab1e"

    def decision_record(self, txid: str, outcome: str, branches: Sequence[Branch]) -> Decision:
        with self._lock:
            return self._decisions.setdefault(txid, Decision(
                txid, outcome, tuple(branches), decided_at=datetime.now(UTC)))

    def decision_get(self, txid: str) -> Decision | None:
        return self._decisions.get(txid)

    def decision_revoke(self, txid: str) -> bool:
        with self._lock:
            decision = self._decisions.get(txid)
            if decision is None or decision.done_at is not None or decision.outcome != "commit":
                return False
            self._decisions[txid] = Decision(txid, "rollback", decision.branches,
                                             decision.decided_at)
            return True

    def decision_mark_done(self, txid: str) -> None:
        with self._lock:
            decision = self._decisions.get(txid)
            if decision is not None:
                self._decisions[txid] = Decision(decision.txid, decision.outcome,
                                                 decision.branches, decision.decided_at,
                                                 datetime.now(UTC))

    def decision_list_pending(self, limit: int = 500) -> list[Decision]:
        return [d for d in self._decisions.values() if d.done_at is None][:limit]

    def decision_prune(self, older_than_days: int) -> int:
        return 0
