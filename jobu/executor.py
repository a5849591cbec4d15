"""Running one claimed execution and recording what came of it.

An :class:`Attempt` is one execution claimed by this worker. Its handler runs on a
pool thread (or in a child process, see jobu.isolation); the outcome is decided by
:func:`decide` from what the handler returned or raised, and written to the store
by :meth:`Executor.settle`, fenced by the attempt's lease token. Exactly one
outcome is settled per attempt: the thread that ran the handler and the main loop
(at a deadline, a cancel or a shutdown) race for it under the attempt's lock.

When the database is away, outcomes wait in an outbox and are written, still
fenced, when it is back.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import traceback as tb
from dataclasses import dataclass, field
from typing import Any

from jobu.errors import (
    ConnectionPoolExhaustedError,
    DatabaseError,
    InvalidInputError,
    LeaseLostError,
    PermanentError,
    QueryExecutionError,
    RetryLater,
    TransactionError,
)
from jobu.handlers import HandlerRegistry, HandlerSpec, JobContext
from jobu.isolation import run_in_child_process
from jobu.model import Execution, Isolation, Status
from jobu.retry import backoff_seconds
from jobu.store import Store

log = logging.getLogger("jobu.worker")


@dataclass(frozen=True)
class Outcome:
    """How an attempt ends. `kind`: success, retry, fail or release."""

    kind: str
    status: Status
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    delay: float = 0.0
    #: How loudly the worker logs the end of the attempt (failures; success is INFO).
    level: int = logging.WARNING

    def describe(self) -> str:
        """For log lines: 'SUCCESS', 'TIMEOUT, retry in 4.7s: timed out after 1s', …"""
        if self.kind == "success":
            return "SUCCESS"
        if self.kind == "release":
            return "handed back (not counted as an attempt)"
        if self.kind == "retry":
            return f"{self.status}, retry in {self.delay:.1f}s: {self.error}"
        return f"{self.status}: {self.error}"


@dataclass(eq=False)
class Attempt:
    """One execution this worker claimed, as the worker tracks it."""

    execution: Execution
    spec: HandlerSpec | None
    isolation: Isolation
    timeout_seconds: float | None
    started: float
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Monotonic time at which the main loop ends the attempt (timeout or cancel grace).
    deadline: float | None = None
    #: Set when an operator asked to cancel: the status the attempt ends with at the deadline.
    cancel_requested: bool = False
    settled: Outcome | None = None

    @property
    def id(self) -> int:
        return self.execution.id

    @property
    def label(self) -> str:
        e = self.execution
        return f"execution {e.id} ({e.handler_name}) attempt {e.attempt}/{e.max_retry + 1}"


def decide(execution: Execution, *, result: Any = None, error: BaseException | None = None,
           ended_as: Status | None = None, backoff_cap: float = 3600.0,
           rng: random.Random | None = None) -> Outcome:
    """The outcome of an attempt, from the handler's result or error (pure).

    `ended_as` is TIMEOUT or CANCELLED when the worker ended the attempt itself.
    Retries follow the execution's max_retry; PermanentError, invalid params and a
    result that is not JSON never retry; RetryLater sets its own delay.
    """
    if ended_as is Status.CANCELLED:
        return Outcome("fail", Status.CANCELLED, error=_text(error) or "cancelled by an operator")
    if error is None and ended_as is None:
        try:
            json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return Outcome("fail", Status.FAILED,
                           error=f"the handler's result is not JSON-serialisable: {exc}")
        return Outcome("success", Status.SUCCESS, result=result)
    status = ended_as or Status.FAILED
    message = _text(error) if error is not None else "timed out"
    trace = None
    if error is not None:
        # A failure in a child process carries the child's traceback.
        trace = getattr(error, "remote_traceback", None) or "".join(tb.format_exception(error))
    permanent = isinstance(error, PermanentError | InvalidInputError)
    if permanent or execution.attempts_left <= 0:
        if isinstance(error, RetryLater):
            message = f"{message}, but no attempts are left (max_retry {execution.max_retry})"
        return Outcome("fail", status, error=message, traceback=trace,
                       level=failure_level(error))
    if isinstance(error, RetryLater):
        delay = error.delay_seconds
    else:
        delay = backoff_seconds(execution.attempt, execution.retry_backoff_seconds, backoff_cap,
                                rng)
    return Outcome("retry", status, error=message, traceback=trace, delay=delay,
                   level=failure_level(error))


def failure_level(error: BaseException | None) -> int:
    """WARNING for a temporary condition (a busy pool, a handler's own failure); ERROR when a
    handler's database refused a statement or a transaction, which needs someone's eyes."""
    if isinstance(error, ConnectionPoolExhaustedError):
        return logging.WARNING
    if isinstance(error, QueryExecutionError | TransactionError):
        return logging.ERROR
    return logging.WARNING


def _text(error: BaseException | None) -> str:
    if error is None:
        return ""
    text = str(error)
    if getattr(error, "remote_traceback", None) is not None:
        return text  # already "Type: message", as the child process wrote it
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Executor:
    """Runs attempts for one worker and writes their outcomes."""

    def __init__(self, *, store: Store, registry: HandlerRegistry, worker_id: str,
                 backoff_cap: float, default_timeout: float | None,
                 databases: Any = None, database_specs: Any = None) -> None:
        self.store = store
        self.registry = registry
        self.worker_id = worker_id
        self.backoff_cap = backoff_cap
        self.default_timeout = default_timeout
        self.databases = databases
        self.database_specs = database_specs
        self.outbox: list[tuple[Attempt, Outcome]] = []
        self._outbox_lock = threading.Lock()
        self.done = 0
        self.failed = 0

    def prepare(self, execution: Execution, now: float) -> Attempt:
        spec = self.registry.get(execution.handler_name)
        timeout = execution.timeout_seconds
        if timeout is None and spec is not None:
            timeout = spec.timeout_seconds
        if timeout is None:
            timeout = self.default_timeout
        isolation = execution.isolation
        if spec is not None and spec.isolation is Isolation.PROCESS:
            isolation = Isolation.PROCESS
        attempt = Attempt(execution, spec, isolation, timeout, started=now)
        if timeout is not None:
            attempt.deadline = now + timeout
        return attempt

    def unknown_handler(self, attempt: Attempt) -> None:
        """Fail an execution whose handler this worker does not have; no retry loop."""
        known = ", ".join(self.registry.names())
        error = PermanentError(f"no handler named {attempt.execution.handler_name!r} on worker "
                               f"{self.worker_id} (known: {known})")
        self.settle(attempt, Outcome("fail", Status.FAILED, error=str(error)))

    def run(self, attempt: Attempt) -> None:
        """Run the handler (on a pool thread) and settle its outcome."""
        log.info("%s started", attempt.label, extra=self._extra(attempt))
        execution = attempt.execution
        ctx = JobContext(
            execution_id=execution.id, handler_name=execution.handler_name,
            attempt=execution.attempt, cron_name=execution.cron_name,
            scheduled_time=execution.scheduled_time,
            report_progress=lambda fraction, note: self._progress(attempt, fraction, note),
            databases=self.databases, cancel_event=attempt.cancel)
        result: Any = None
        error: BaseException | None = None
        try:
            params = attempt.spec.load_params(execution.params)
            if attempt.isolation is Isolation.PROCESS:
                result = run_in_child_process(attempt.spec, params, ctx, attempt.cancel,
                                              self.database_specs)
            else:
                result = attempt.spec.invoke(ctx, params)
        except BaseException as exc:  # noqa: BLE001 - every handler failure is an outcome
            error = exc  # sys.exit() too: uncaught, it would end the thread and leave the job
        if attempt.cancel.is_set() and attempt.cancel_requested:
            # An operator asked it to stop, and it stopped: by raising, or by returning early
            # as a cooperative handler does (the built-in sleep). Either way it was cancelled.
            outcome = decide(execution, error=error, ended_as=Status.CANCELLED)
        else:
            outcome = decide(execution, result=result, error=error,
                             backoff_cap=self.backoff_cap)
        self.settle(attempt, outcome)

    def end(self, attempt: Attempt, status: Status, reason: str) -> bool:
        """The main loop ends an attempt (TIMEOUT, CANCELLED); False if it had settled."""
        if status is Status.TIMEOUT:
            outcome = decide(attempt.execution, ended_as=Status.TIMEOUT,
                             backoff_cap=self.backoff_cap)
            outcome = Outcome(outcome.kind, outcome.status, error=reason, delay=outcome.delay)
        else:
            outcome = Outcome("fail", Status.CANCELLED, error=reason)
        attempt.cancel.set()
        return self.settle(attempt, outcome)

    def abandon(self, attempt: Attempt, reason: str) -> None:
        """The lease is gone: stop the handler if it listens, write nothing more for it."""
        attempt.cancel.set()
        with attempt.lock:
            if attempt.settled is None:
                attempt.settled = Outcome("lost", Status.RUNNING, error=reason)
                log.warning("%s: %s; its outcome will not be recorded", attempt.label, reason)

    def release(self, attempt: Attempt) -> bool:
        """Hand an unfinished attempt back (shutdown); False if it had settled."""
        attempt.cancel.set()
        return self.settle(attempt, Outcome("release", Status.PENDING))

    def settle(self, attempt: Attempt, outcome: Outcome) -> bool:
        """Record the attempt's one outcome; False if another one was settled first."""
        with attempt.lock:
            if attempt.settled is not None:
                if outcome.kind != "release":
                    log.info("%s finished after it was ended (%s); its result is discarded",
                             attempt.label, attempt.settled.describe())
                return False
            attempt.settled = outcome
        took = time.monotonic() - attempt.started
        level = logging.INFO if outcome.kind in ("success", "release") else outcome.level
        log.log(level, "%s ended after %.3fs: %s", attempt.label, took, outcome.describe(),
                extra={**self._extra(attempt), "outcome": outcome.kind, "duration": took})
        if outcome.kind == "success":
            self.done += 1
        elif outcome.kind == "fail":
            self.failed += 1
        self.write(attempt, outcome)
        return True

    def write(self, attempt: Attempt, outcome: Outcome) -> bool:
        """Write an outcome to the store; into the outbox if the database is away."""
        try:
            apply_outcome(self.store, attempt.execution, outcome)
        except LeaseLostError:
            log.warning("%s lost its lease before its outcome (%s) was written; another "
                        "attempt owns the execution now", attempt.label, outcome.describe())
        except DatabaseError as error:
            with self._outbox_lock:
                self.outbox.append((attempt, outcome))
            log.warning("%s: outcome kept until the database is back (%s)", attempt.label,
                        str(error).splitlines()[0])
            return False
        return True

    def flush_outbox(self) -> int:
        """Write buffered outcomes, oldest first; returns how many are still waiting."""
        with self._outbox_lock:
            pending, self.outbox = self.outbox, []
        for index, (attempt, outcome) in enumerate(pending):
            try:
                apply_outcome(self.store, attempt.execution, outcome)
            except LeaseLostError:
                log.warning("%s: its lease expired while the database was away; the outcome "
                            "(%s) was not written", attempt.label, outcome.describe())
            except DatabaseError:
                with self._outbox_lock:
                    self.outbox[:0] = pending[index:]
                    return len(self.outbox)
        return 0

    def _progress(self, attempt: Attempt, fraction: float, note: str | None) -> None:
        try:
            self.store.execution_progress(attempt.id, attempt.execution.lease_token, fraction,
                                          note)
        except LeaseLostError:
            attempt.cancel.set()
        except DatabaseError as error:
            log.warning("%s: progress not recorded (%s)", attempt.label, error)

    @staticmethod
    def _extra(attempt: Attempt) -> dict[str, Any]:
        e = attempt.execution
        return {"execution_id": e.id, "handler": e.handler_name, "attempt": e.attempt,
                "cron": e.cron_name}


def apply_outcome(store: Store, execution: Execution, outcome: Outcome) -> None:
    """The fenced store write for an outcome."""
    token = execution.lease_token or ""
    if outcome.kind == "success":
        store.execution_complete(execution.id, token, outcome.result)
    elif outcome.kind == "retry":
        store.execution_retry(execution.id, token, outcome.delay, outcome.error or "",
                              outcome.traceback, attempt_status=outcome.status)
    elif outcome.kind == "release":
        store.execution_release(execution.id, token)
    else:
        store.execution_fail(execution.id, token, outcome.error or "", outcome.traceback,
                             status=outcome.status)
