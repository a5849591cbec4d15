"""jobu-worker: keeps a pool of threads fed with claimed executions.

Each pass of the main loop (run by jobu.daemon):

1. ends attempts whose deadline passed (TIMEOUT) or whose cancel grace ran out
   (CANCELLED), and declares their threads stuck so the slot can be used again;
2. writes outcomes that waited for the database (the outbox);
3. every heartbeat_interval_seconds: refreshes this worker's row and the leases
   of everything it runs, learning which were cancelled or lost;
4. claims as many runnable executions as there are free slots (at most
   claim_batch_size) and starts them.

It then sleeps until the next deadline, heartbeat or poll, and is woken early by a
finishing job, a PostgreSQL notification (LISTEN jobu_executions) or a signal.
While claims come back full it claims again at once. On SIGTERM it stops claiming,
lets running jobs finish for up to shutdown_timeout_seconds, then hands the rest
back (RETRY or PENDING, the attempt not counted) and exits.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

from jobu import __version__
from jobu.configschema import WorkerConfig
from jobu.errors import DatabaseError
from jobu.executor import Attempt, Executor
from jobu.handlers import HandlerRegistry
from jobu.model import Isolation, Status, WorkerInfo
from jobu.store import Store
from jobu.store.listener import EXECUTIONS_CHANNEL, Listener
from jobu.systemd import Notifier
from jobu.threadpool import SlotPool

log = logging.getLogger("jobu.worker")

#: Seconds a running job has to stop after an operator cancels it.
CANCEL_GRACE_SECONDS = 5.0


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class Worker:
    """The worker Service (see jobu.daemon)."""

    name = "worker"

    def __init__(self, *, store: Store, config: WorkerConfig, registry: HandlerRegistry,
                 wake: threading.Event, databases: Any = None, database_specs: Any = None,
                 notifier: Notifier | None = None, worker_id: str | None = None,
                 listen: bool = True) -> None:
        self.store = store
        self.config = config
        self.registry = registry
        self.wake = wake
        self.notifier = notifier
        self.worker_id = worker_id or new_worker_id()
        self.pool = SlotPool(config.pool_size, on_finished=lambda task: wake.set())
        self.executor = Executor(
            store=store, registry=registry, worker_id=self.worker_id,
            backoff_cap=config.retry_backoff_max_seconds,
            default_timeout=config.default_timeout_seconds, databases=databases,
            database_specs=database_specs)
        self.attempts: dict[int, Attempt] = {}
        self._tasks: dict[int, Any] = {}
        self._registered = False
        self._next_heartbeat = 0.0
        self._stopping = False
        self._listen = listen and store.database.dialect.supports_notify
        self._listener: Listener | None = None
        self._last_claim_progress = time.monotonic()

    # --- the pass ------------------------------------------------------------------

    def run_once(self, now: datetime) -> float:
        clock = time.monotonic()
        self._end_overdue(clock)
        self._forget_finished()
        if self.executor.flush_outbox():
            raise DatabaseError("outcomes are waiting for the database")
        if not self._registered:
            self._register()
        if clock >= self._next_heartbeat:
            self._heartbeat()
            self._next_heartbeat = clock + self.config.heartbeat_interval_seconds
        full = False
        if not self._stopping:
            full = self._claim()
            self._last_claim_progress = time.monotonic()
        if full:
            return 0.0
        return self._seconds_to_next_event(time.monotonic())

    def _claim(self) -> bool:
        """Claim for the free slots; True if the claim came back full (claim again)."""
        free = self.pool.free_slots()
        limit = min(free, self.config.claim_batch_size or self.config.pool_size)
        if limit <= 0:
            return False
        claimed = self.store.execution_claim(self.worker_id, self.config.queues, limit,
                                             self.config.lease_seconds)
        for execution in claimed:
            self._start(execution)
        return len(claimed) == limit and self.pool.free_slots() > 0

    def _start(self, execution) -> None:
        attempt = self.executor.prepare(execution, time.monotonic())
        self.attempts[attempt.id] = attempt
        if attempt.spec is None:
            self.executor.unknown_handler(attempt)
            return
        self._tasks[attempt.id] = self.pool.start(
            f"jobu-{execution.handler_name}-{execution.id}",
            lambda: self.executor.run(attempt))

    def _end_overdue(self, clock: float) -> None:
        for attempt in list(self.attempts.values()):
            if attempt.settled is not None or attempt.deadline is None or attempt.deadline > clock:
                continue
            if attempt.cancel_requested:
                self.executor.end(attempt, Status.CANCELLED, "cancelled by an operator")
            else:
                self.executor.end(attempt, Status.TIMEOUT,
                                  f"timed out after {attempt.timeout_seconds:g}s")
            self._mark_stuck_if_running(attempt)

    def _mark_stuck_if_running(self, attempt: Attempt) -> None:
        task = self._tasks.get(attempt.id)
        if task is None or task.done.is_set():
            return
        if attempt.isolation is Isolation.PROCESS:
            return  # its thread stops the child process and returns at once
        self.pool.mark_stuck(task)
        log.warning("%s: its thread is stuck (the handler ignores cancellation); a new "
                    "thread takes its slot", attempt.label)

    def _forget_finished(self) -> None:
        for execution_id, attempt in list(self.attempts.items()):
            task = self._tasks.get(execution_id)
            if attempt.settled is not None and (task is None or task.done.is_set()
                                                or task.stuck):
                del self.attempts[execution_id]
                self._tasks.pop(execution_id, None)

    def _register(self) -> None:
        self.store.worker_register(WorkerInfo(
            id=self.worker_id, kind="worker", hostname=socket.gethostname(), pid=os.getpid(),
            pool_size=self.config.pool_size, running=len(self._live()),
            handlers=tuple(self.registry.names()), queues=tuple(self.config.queues),
            version=__version__))
        self._registered = True
        if self._listen and self._listener is None:
            self._listener = Listener(self.store.database.spec, [EXECUTIONS_CHANNEL],
                                      lambda channel, payload: self.wake.set()).start()
        log.info("worker %s serving %s on queues %s with %d threads", self.worker_id,
                 ", ".join(self.registry.names()), ", ".join(self.config.queues),
                 self.config.pool_size)

    def _heartbeat(self) -> None:
        live = self._live()
        if not self.store.worker_heartbeat(self.worker_id, len(live)):
            self._registered = False  # pruned while away: register again
        renewal = self.store.execution_renew_leases(
            self.worker_id, {a.id: a.execution.lease_token for a in live},
            self.config.lease_seconds)
        for attempt in live:
            if attempt.id in renewal.lost:
                self.executor.abandon(attempt, "the lease was lost (expired and rescued, or "
                                               "the execution was cancelled)")
                self._mark_stuck_if_running(attempt)
            elif attempt.id in renewal.cancel_requested and not attempt.cancel_requested:
                self._cancel(attempt)

    def _cancel(self, attempt: Attempt) -> None:
        attempt.cancel_requested = True
        attempt.cancel.set()
        grace = time.monotonic() + CANCEL_GRACE_SECONDS
        attempt.deadline = grace if attempt.deadline is None else min(attempt.deadline, grace)
        log.info("%s: cancel requested; the handler has %gs to stop", attempt.label,
                 CANCEL_GRACE_SECONDS)
        self.wake.set()

    def _live(self) -> list[Attempt]:
        return [a for a in self.attempts.values() if a.settled is None]

    def _seconds_to_next_event(self, clock: float) -> float:
        events = [self._next_heartbeat, clock + self.config.poll_interval_seconds]
        events += [a.deadline for a in self._live() if a.deadline is not None]
        return max(0.0, min(events) - clock)

    # --- status and health ------------------------------------------------------------

    def status(self) -> str:
        running, stuck = self.pool.counts()
        text = (f"{running}/{self.config.pool_size} busy, {stuck} stuck, "
                f"{self.executor.done} done, {self.executor.failed} failed")
        if self.executor.outbox:
            text += f", {len(self.executor.outbox)} outcomes waiting for the database"
        return text

    def healthy(self) -> bool:
        """Fed to the watchdog: the claim loop moves and not every thread is stuck."""
        return not self.pool.wedged()

    def reload(self, config: Any) -> None:
        """Take on new queues, intervals and timeouts; the pool size needs a restart."""
        worker = config.worker
        if worker.pool_size != self.config.pool_size:
            log.warning("pool_size %d -> %d takes effect when the worker restarts",
                        self.config.pool_size, worker.pool_size)
            worker = dataclasses.replace(worker, pool_size=self.config.pool_size,
                                         claim_batch_size=min(worker.claim_batch_size,
                                                              self.config.pool_size))
        self.config = worker
        # The executor applies these to the attempts it starts from now on.
        self.executor.default_timeout = worker.default_timeout_seconds
        self.executor.backoff_cap = worker.retry_backoff_max_seconds

    # --- stopping -------------------------------------------------------------------

    def shutdown(self, hard_stop: threading.Event) -> None:
        """Stop claiming, let running jobs finish, hand back the rest, leave."""
        self._stopping = True
        drain = self.config.shutdown_timeout_seconds
        if self.notifier is not None:
            # The worker cannot know the unit's TimeoutStopSec: it always says how long it needs
            # (systemd only ever lengthens its timeout with this, never shortens it).
            self.notifier.extend_timeout(drain + 15)
        deadline = time.monotonic() + drain
        running = len(self._live())
        if running:
            log.info("draining: waiting up to %gs for %d running jobs", drain, running)
        while self._live() and time.monotonic() < deadline and not hard_stop.is_set():
            try:
                self.run_once(datetime.now(UTC))
            except DatabaseError as error:
                log.warning("while draining: %s", error)
            wait = min(0.2, max(0.0, deadline - time.monotonic()))
            self.wake.wait(wait)
            self.wake.clear()
        for attempt in self._live():
            if self.executor.release(attempt):
                self._mark_stuck_if_running(attempt)
        self._quietly(self.executor.flush_outbox)
        if self._listener is not None:
            self._listener.stop()
        if self._registered:
            self._quietly(lambda: self.store.worker_deregister(self.worker_id))

    @staticmethod
    def _quietly(action) -> None:
        try:
            action()
        except DatabaseError as error:
            log.warning("while stopping: %s", error)
