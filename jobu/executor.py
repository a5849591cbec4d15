"""Running claimed executions and collecting what came of them.

The :class:`Executor` owns the worker's attempts. An :class:`Attempt` is one
execution claimed by this worker. Its handler runs on a runner thread of the pool
(or in a child process, see jobu.isolation); the outcome is decided by
:func:`decide` from what the handler returned or raised and put in the outcome
buffer. The worker's main loop takes the buffer (:meth:`Executor.outcomes_to_write`),
writes every outcome in it in one transaction (group commit, fenced by each
attempt's lease token) and hands the store's report back
(:meth:`Executor.written`), which is when an outcome is logged: a line that says
an execution ended is only ever written once its outcome is in the database.

Exactly one outcome is settled per attempt: the runner thread that ran the handler
and the main loop (at a deadline, a cancel, a lost lease or a shutdown) race for it
under the attempt's lock; the store's fencing settles any race with another worker.
An attempt stays in the executor, and its lease is renewed, until its outcome is
written: when the database is away, outcomes wait in the buffer.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import traceback as tb
from collections.abc import Callable
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
from jobu.logs import execution_scope
from jobu.model import Execution, Isolation, OutcomeKind, Status
from jobu.retry import backoff_seconds
from jobu.store import FinishedAttempt, FinishReport, LeaseRenewal, Store
from jobu.threadpool import RunnerPool

log = logging.getLogger("jobu.worker")


@dataclass(frozen=True)
class Outcome:
    """How an attempt ends."""

    kind: OutcomeKind
    status: Status
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    delay: float = 0.0
    #: How loudly the worker logs the end of the attempt (failures; success is INFO).
    level: int = logging.WARNING
    #: A success's result as JSON text: encoded once, where it is checked, and stored as is.
    result_json: str | None = None

    def describe(self) -> str:
        """For log lines: 'SUCCESS', 'TIMEOUT, retry in 4.7s: timed out after 1s', …"""
        if self.kind is OutcomeKind.SUCCESS:
            return "SUCCESS"
        if self.kind is OutcomeKind.RELEASE:
            return "handed back (not counted as an attempt)"
        if self.kind is OutcomeKind.RETRY:
            return f"{self.status}, retry in {self.delay:.1f}s: {self.error}"
        return f"{self.status}: {self.error}"


SUCCESS_OUTCOME_LEVEL = logging.INFO
#: The longest result, as JSON, that a worker stores (worker.yaml max_result_bytes).
DEFAULT_MAX_RESULT_BYTES = 1024 * 1024
#: Encodes results as the store does (rows.to_json): one encoder, NaN refused, ASCII out.
_RESULT_JSON = json.JSONEncoder(allow_nan=False)


@dataclass(eq=False)
class Attempt:
    """One execution this worker claimed, from its claim until its outcome is written."""

    execution: Execution
    spec: HandlerSpec | None
    isolation: Isolation
    timeout_seconds: float | None
    #: Monotonic time of the handler's start and end on its runner.
    started: float | None = None
    ended: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Monotonic time at which the main loop ends the attempt (timeout or cancel grace).
    deadline: float | None = None
    #: Set when an operator asked to cancel: the status the attempt ends with at the deadline.
    cancel_requested: bool = False
    #: True while a runner thread is inside the handler.
    running: bool = False
    settled: Outcome | None = None
    #: The lease was lost: nothing more is written for this attempt.
    lost: bool = False

    @property
    def id(self) -> int:
        return self.execution.id

    @property
    def label(self) -> str:
        e = self.execution
        return f"execution {e.id} ({e.handler_name}) attempt {e.attempt}/{e.max_retry + 1}"

    def took(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended if self.ended is not None else self.started) - self.started


def decide(execution: Execution, *, result: Any = None, error: BaseException | None = None,
           ended_as: Status | None = None, backoff_cap: float = 3600.0,
           max_result_bytes: int | None = DEFAULT_MAX_RESULT_BYTES,
           rng: random.Random | None = None) -> Outcome:
    """The outcome of an attempt, from the handler's result or error (pure).

    `ended_as` is TIMEOUT or CANCELLED when the worker ended the attempt itself.
    Retries follow the execution's max_retry; PermanentError, invalid params, a result
    that is not JSON and one longer than `max_result_bytes` as JSON (None: no limit) never
    retry (the same result would come back); RetryLater sets its own delay.
    """
    if ended_as is Status.CANCELLED:
        return Outcome(OutcomeKind.FAIL, Status.CANCELLED,
                       error=_text(error) or "cancelled by an operator")
    if error is None and ended_as is None:
        try:
            encoded = _RESULT_JSON.encode(result)
        except (TypeError, ValueError) as exc:
            return Outcome(OutcomeKind.FAIL, Status.FAILED,
                           error=f"the handler's result is not JSON-serialisable: {exc}")
        # The encoder escapes every non-ASCII character, so its length is the byte count.
        if max_result_bytes is not None and len(encoded) > max_result_bytes:
            return Outcome(OutcomeKind.FAIL, Status.FAILED, error=(
                f"the handler's result is {len(encoded):,} bytes of JSON, over the "
                f"limit of {max_result_bytes:,} (worker.yaml max_result_bytes); store large "
                "data elsewhere and return a reference to it"))
        return Outcome(OutcomeKind.SUCCESS, Status.SUCCESS, result=result, result_json=encoded)
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
        return Outcome(OutcomeKind.FAIL, status, error=message, traceback=trace,
                       level=failure_level(error))
    if isinstance(error, RetryLater):
        delay = error.delay_seconds
    else:
        delay = backoff_seconds(execution.attempt, execution.retry_backoff_seconds, backoff_cap,
                                rng)
    return Outcome(OutcomeKind.RETRY, status, error=message, traceback=trace, delay=delay,
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


def to_finished(attempt: Attempt, outcome: Outcome) -> FinishedAttempt:
    """The store's record of an outcome, fenced by the attempt's lease token."""
    return FinishedAttempt(
        execution_id=attempt.id, lease_token=attempt.execution.lease_token or "",
        kind=outcome.kind, status=outcome.status, result=outcome.result,
        result_json=outcome.result_json,
        error_message=outcome.error, traceback=outcome.traceback,
        delay_seconds=outcome.delay)


class Executor:
    """Runs this worker's attempts on a runner pool and buffers their outcomes.

    The main loop calls :meth:`start`, :meth:`end_overdue`, :meth:`outcomes_to_write`,
    :meth:`written`, :meth:`renewed` and :meth:`release_all`; runner threads only run
    handlers and settle outcomes. `on_outcome` is called (from any thread) whenever an
    outcome joins the buffer, so the main loop can write it.
    """

    def __init__(self, *, store: Store, registry: HandlerRegistry, worker_id: str,
                 pool_size: int, backoff_cap: float, default_timeout: float | None,
                 monotonic: Callable[[], float],
                 max_result_bytes: int | None = DEFAULT_MAX_RESULT_BYTES,
                 on_outcome: Callable[[], None] = lambda: None,
                 databases: Any = None, database_specs: Any = None) -> None:
        self.store = store
        self.registry = registry
        self.worker_id = worker_id
        self.backoff_cap = backoff_cap
        self.max_result_bytes = max_result_bytes
        self.default_timeout = default_timeout
        self.databases = databases
        self.database_specs = database_specs
        self._monotonic = monotonic
        self._on_outcome = on_outcome
        self.pool = RunnerPool(pool_size, self._run, name="jobu-runner")
        #: Every attempt whose outcome is not yet written, by execution id.
        self.attempts: dict[int, Attempt] = {}
        self._buffer: list[tuple[Attempt, Outcome]] = []
        self._buffer_lock = threading.Lock()
        #: Outcomes written: successes, and attempts that ended in FAILED/TIMEOUT/CANCELLED.
        self.done = 0
        self.failed = 0
        #: A moving average of handler run times, for the worker's prefetch (None: no
        #: handler has ended yet, so nothing is known of how long they take).
        self.average_seconds: float | None = None

    # --- starting -----------------------------------------------------------------------

    def start(self, execution: Execution) -> Attempt:
        """Take a claimed execution: queue it on the pool (or fail it: unknown handler)."""
        spec = self.registry.get(execution.handler_name)
        timeout = execution.timeout_seconds
        if timeout is None and spec is not None:
            timeout = spec.timeout_seconds
        if timeout is None:
            timeout = self.default_timeout
        isolation = execution.isolation
        if spec is not None and spec.isolation is Isolation.PROCESS:
            isolation = Isolation.PROCESS
        attempt = Attempt(execution, spec, isolation, timeout)
        self.attempts[execution.id] = attempt
        if spec is None:
            known = ", ".join(self.registry.names())
            self.settle(attempt, Outcome(
                OutcomeKind.FAIL, Status.FAILED,
                error=f"no handler named {execution.handler_name!r} on worker "
                      f"{self.worker_id} (known: {known})"))
        else:
            self.pool.submit(attempt)
        return attempt

    def _run(self, attempt: Attempt) -> None:
        """On a runner thread: run the handler and settle its outcome."""
        with attempt.lock:
            if attempt.settled is not None:
                return  # ended (lost, released, timed out) before it could start
            attempt.running = True
            attempt.started = self._monotonic()
            if attempt.timeout_seconds is not None:
                # The timeout counts from the handler's start, not from a prefetch.
                deadline = attempt.started + attempt.timeout_seconds
                attempt.deadline = (deadline if attempt.deadline is None
                                    else min(attempt.deadline, deadline))
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s started", attempt.label, extra=self._extra(attempt))
        execution = attempt.execution
        result: Any = None
        error: BaseException | None = None
        try:
            ctx = JobContext(
                execution_id=execution.id, handler_name=execution.handler_name,
                attempt=execution.attempt, cron_name=execution.cron_name,
                scheduled_time=execution.scheduled_time,
                report_progress=lambda fraction, note: self._progress(attempt, fraction, note),
                databases=self.databases, cancel_event=attempt.cancel)
            params = attempt.spec.load_params(execution.params)
            if attempt.isolation is Isolation.PROCESS:
                result = run_in_child_process(attempt.spec, params, ctx, attempt.cancel,
                                              self.database_specs)
            else:
                with execution_scope(execution.id, execution.handler_name, execution.attempt):
                    result = attempt.spec.invoke(ctx, params)
        except BaseException as exc:  # noqa: BLE001 - every handler failure is an outcome
            error = exc  # sys.exit() too: uncaught, it would end the thread and leave the job
        with attempt.lock:
            attempt.running = False
            attempt.ended = self._monotonic()
        took = attempt.ended - attempt.started
        average = self.average_seconds
        self.average_seconds = took if average is None else average + (took - average) * 0.1
        if attempt.cancel.is_set() and attempt.cancel_requested:
            # An operator asked it to stop, and it stopped: by raising, or by returning early
            # as a cooperative handler does (the built-in sleep). Either way it was cancelled.
            outcome = decide(execution, error=error, ended_as=Status.CANCELLED)
        else:
            outcome = decide(execution, result=result, error=error,
                             backoff_cap=self.backoff_cap, max_result_bytes=self.max_result_bytes)
        self.settle(attempt, outcome)

    # --- ending -------------------------------------------------------------------------

    def settle(self, attempt: Attempt, outcome: Outcome) -> bool:
        """Put the attempt's one outcome in the buffer; False if one was settled first."""
        with attempt.lock:
            if attempt.settled is not None:
                late = outcome.kind is not OutcomeKind.RELEASE
                why = "its lease was lost" if attempt.lost else \
                    f"it was ended ({attempt.settled.describe()})"
            else:
                attempt.settled = outcome
                late = None
        if late is not None:
            if late:
                log.info("%s finished after %s; its result is discarded", attempt.label, why)
            return False
        with self._buffer_lock:
            self._buffer.append((attempt, outcome))
        self._on_outcome()
        return True

    def end(self, attempt: Attempt, status: Status, reason: str) -> bool:
        """The main loop ends an attempt (TIMEOUT, CANCELLED); False if it had settled."""
        if status is Status.TIMEOUT:
            decided = decide(attempt.execution, ended_as=Status.TIMEOUT,
                             backoff_cap=self.backoff_cap)
            outcome = Outcome(decided.kind, decided.status, error=reason, delay=decided.delay)
        else:
            outcome = Outcome(OutcomeKind.FAIL, Status.CANCELLED, error=reason)
        attempt.cancel.set()
        if not self.settle(attempt, outcome):
            return False
        self._mark_stuck_if_running(attempt)
        return True

    def end_overdue(self, now: float) -> None:
        """End the attempts whose deadline passed: TIMEOUT, or CANCELLED after a cancel."""
        for attempt in list(self.attempts.values()):
            if attempt.settled is not None or attempt.deadline is None or attempt.deadline > now:
                continue
            if attempt.cancel_requested:
                self.end(attempt, Status.CANCELLED, "cancelled by an operator")
            else:
                self.end(attempt, Status.TIMEOUT, f"timed out after {attempt.timeout_seconds:g}s")

    def request_cancel(self, attempt: Attempt, grace: float) -> None:
        """An operator asked to cancel: tell the handler, end it after `grace` seconds."""
        attempt.cancel_requested = True
        attempt.cancel.set()
        limit = self._monotonic() + grace
        attempt.deadline = limit if attempt.deadline is None else min(attempt.deadline, limit)
        log.info("%s: cancel requested; the handler has %gs to stop", attempt.label, grace)

    def release_all(self) -> int:
        """Hand back every attempt without an outcome (shutdown); returns how many."""
        released = 0
        for attempt in list(self.attempts.values()):
            attempt.cancel.set()
            if self.settle(attempt, Outcome(OutcomeKind.RELEASE, Status.PENDING)):
                released += 1  # a thread still inside its handler is left to end on its own
        return released

    def _lose(self, attempt: Attempt, reason: str) -> None:
        """The lease is gone: stop the handler if it listens, write nothing more for it."""
        attempt.cancel.set()
        with attempt.lock:
            attempt.lost = True
            ended_here = attempt.settled is None
            if ended_here:
                attempt.settled = Outcome(OutcomeKind.FAIL, Status.RUNNING, error=reason)
        self.attempts.pop(attempt.id, None)
        if ended_here:
            log.warning("%s: %s; its outcome will not be recorded", attempt.label, reason)
            self._mark_stuck_if_running(attempt)

    def _mark_stuck_if_running(self, attempt: Attempt) -> None:
        """The main loop ended an attempt whose handler may still be running on its thread."""
        if attempt.isolation is Isolation.PROCESS:
            return  # its runner stops the child process and returns at once
        with attempt.lock:  # the runner leaves the handler under this lock: no race
            stuck = attempt.running and self.pool.mark_stuck(attempt)
        if stuck:
            log.warning("%s: its thread is stuck (the handler ignores cancellation); a new "
                        "thread takes its place", attempt.label)

    # --- the main loop's writes -----------------------------------------------------------

    def has_outcomes(self) -> bool:
        return bool(self._buffer)

    def outcomes_waiting(self) -> int:
        return len(self._buffer)

    def outcomes_to_write(self) -> list[FinishedAttempt]:
        """The buffered outcomes, as the store writes them (they stay buffered until
        :meth:`written` says they were)."""
        with self._buffer_lock:
            return [to_finished(attempt, outcome) for attempt, outcome in self._buffer]

    def written(self, report: FinishReport) -> None:
        """The store wrote (or fenced out) the outcomes of `report`: log and forget them."""
        settled = report.written | report.already_written | report.lost
        with self._buffer_lock:
            done = [(a, o) for a, o in self._buffer if a.id in settled]
            self._buffer = [(a, o) for a, o in self._buffer if a.id not in settled]
        info = log.isEnabledFor(SUCCESS_OUTCOME_LEVEL)
        for attempt, outcome in done:
            self.attempts.pop(attempt.id, None)
            if attempt.id in report.lost:
                log.warning("%s lost its lease before its outcome (%s) was written; another "
                            "attempt owns the execution now", attempt.label, outcome.describe())
                continue
            if outcome.kind is OutcomeKind.SUCCESS:
                self.done += 1
                if info:
                    log.info("%s ended after %.3fs: SUCCESS", attempt.label, attempt.took(),
                             extra={**self._extra(attempt), "outcome": "success",
                                    "duration": attempt.took()})
                continue
            if outcome.kind is OutcomeKind.FAIL:
                self.failed += 1
            level = logging.INFO if outcome.kind is OutcomeKind.RELEASE else outcome.level
            log.log(level, "%s ended after %.3fs: %s", attempt.label, attempt.took(),
                    outcome.describe(), extra={**self._extra(attempt),
                                               "outcome": str(outcome.kind),
                                               "duration": attempt.took()})

    def held(self) -> dict[int, str]:
        """The leases this worker holds: every attempt whose outcome is not yet written."""
        return {eid: a.execution.lease_token or "" for eid, a in self.attempts.items()}

    def renewed(self, renewal: LeaseRenewal, cancel_grace: float) -> None:
        """Act on a lease renewal: stop attempts whose lease was lost, pass on cancels."""
        for eid in renewal.lost:
            attempt = self.attempts.get(eid)
            if attempt is None:
                continue
            with attempt.lock:
                decided = attempt.settled is not None
            if decided:
                continue  # its outcome is in the buffer; the write reports what happened
            self._lose(attempt, "the lease was lost (expired and rescued, or the execution "
                                "was cancelled)")
        for eid in renewal.cancel_requested:
            attempt = self.attempts.get(eid)
            if attempt is not None and not attempt.cancel_requested and attempt.settled is None:
                self.request_cancel(attempt, cancel_grace)

    def unfinished(self) -> int:
        """Attempts without an outcome yet: running, or claimed and waiting for a runner."""
        return sum(1 for a in self.attempts.values() if a.settled is None)

    def next_deadline(self) -> float | None:
        deadlines = [a.deadline for a in self.attempts.values()
                     if a.deadline is not None and a.settled is None]
        return min(deadlines) if deadlines else None

    # --- the handler's side ---------------------------------------------------------------

    def _progress(self, attempt: Attempt, fraction: float, note: str | None) -> None:
        try:
            self.store.execution_progress(attempt.id, attempt.execution.lease_token or "",
                                          fraction, note)
        except LeaseLostError:
            attempt.cancel.set()
        except DatabaseError as error:
            log.warning("%s: progress not recorded (%s)", attempt.label, error)

    @staticmethod
    def _extra(attempt: Attempt) -> dict[str, Any]:
        e = attempt.execution
        return {"execution_id": e.id, "handler": e.handler_name, "attempt": e.attempt,
                "cron": e.cron_name}
