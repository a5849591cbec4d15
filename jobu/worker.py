"""jobu-worker: keeps a pool of runner threads fed with claimed executions.

One job's path::

    claim ──► Executor.start ──► runner thread: handler ──► outcome buffer
      ▲                                                         │
      └──── one transaction: write every buffered outcome ◄─────┘
            (fenced by lease tokens) and claim for the free runners

Each pass of the main loop (run by jobu.daemon):

1. ends attempts whose deadline passed (TIMEOUT) or whose cancel grace ran out
   (CANCELLED); a runner still inside such a handler is declared stuck and replaced;
2. writes every buffered outcome and claims for the free runners, in ONE
   transaction (a group commit: outcomes that finished while the previous one ran
   go in together). When handlers are short, it claims more than there are free
   runners (a prefetch of at most PREFETCH_PER_RUNNER per runner, and only as many
   as would start within PREFETCH_HORIZON_SECONDS at the average handler's pace, so
   a prefetched job starts soon and its lease stays honest);
3. every heartbeat_interval_seconds: refreshes this worker's row, renews the leases
   it holds (only those: by id and token), learns which were cancelled or lost, and
   takes back executions whose lease expired anywhere (so rescue needs no
   dispatcher: every worker shares it, SKIP LOCKED keeps them apart).

It then sleeps until the next deadline, heartbeat or poll, and is woken early by
an outcome, a PostgreSQL notification (LISTEN jobu_executions), a change to the
SQLite file by another process (a local wake-up, see jobu.store.listener), or a
signal. While claims come back full it claims again at once. On SIGTERM it stops
claiming, lets running jobs finish for up to shutdown_timeout_seconds, hands the
rest back (RETRY or PENDING, the attempt not counted), writes every outcome it has
(retrying while the database is away, until the stop deadline) and only then exits.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import socket
import threading
from datetime import datetime
from typing import Any

from jobu import __version__
from jobu.clock import Clock, SystemClock
from jobu.config import WorkerConfig
from jobu.errors import DatabaseError
from jobu.executor import Executor
from jobu.handlers import HandlerRegistry
from jobu.maintenance import rescue_expired
from jobu.model import WorkerInfo
from jobu.store import ClaimRequest, Store
from jobu.store.listener import (
    EXECUTIONS_CHANNEL,
    Listener,
    LocalChangeWatcher,
    RunnableProbe,
)
from jobu.systemd import Notifier

log = logging.getLogger("jobu.worker")

#: Seconds a running job has to stop after an operator cancels it.
CANCEL_GRACE_SECONDS = 5.0
#: Prefetch only while a prefetched job would start within about this long...
PREFETCH_HORIZON_SECONDS = 0.05
#: ...and at most this many jobs per runner thread (bigger batches, fewer transactions).
PREFETCH_PER_RUNNER = 3
#: Seconds between two writes of the last outcomes while stopping with the database away.
STOP_RETRY_SECONDS = 0.5
#: An idle worker's poll where the database wakes it (PostgreSQL, SQLite): a safety net.
POLL_WITH_WAKEUPS_SECONDS = 1.0
#: ...and where nothing can (MySQL/MariaDB): a job waits half of this on average. An empty
#: claim costs the worker about 0.2 ms of CPU, so this is under 1 % of a CPU when idle.
POLL_WITHOUT_WAKEUPS_SECONDS = 0.04


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class Worker:
    """The worker Service (see jobu.daemon)."""

    name = "worker"

    def __init__(self, *, store: Store, config: WorkerConfig, registry: HandlerRegistry,
                 wake: threading.Event, databases: Any = None, database_specs: Any = None,
                 notifier: Notifier | None = None, worker_id: str | None = None,
                 listen: bool = True, clock: Clock | None = None) -> None:
        self.store = store
        self.config = config
        self.registry = registry
        self.wake = wake
        self.notifier = notifier
        self.clock = clock or SystemClock()
        self.worker_id = worker_id or new_worker_id()
        self.executor = Executor(
            store=store, registry=registry, worker_id=self.worker_id,
            pool_size=config.pool_size, backoff_cap=config.retry_backoff_max_seconds,
            default_timeout=config.default_timeout_seconds, monotonic=self.clock.monotonic,
            max_result_bytes=config.max_result_bytes,
            on_outcome=wake.set, databases=databases, database_specs=database_specs)
        self.pool = self.executor.pool
        self._registered = False
        self._next_heartbeat = float("-inf")
        self._stopping = False
        self._listen = listen
        self._listener: Any = None
        #: Outcomes the log has said wait for the database (it says so again when more do).
        self._told_waiting = 0

    # --- the pass ------------------------------------------------------------------

    def run_once(self, now: datetime) -> float:
        clock = self.clock.monotonic()
        self.executor.end_overdue(clock)
        if not self._registered:
            self._register()
        # Outcomes first: while the database is away, each pass tries them (and says so).
        full = self._write_and_claim()
        if clock >= self._next_heartbeat:
            self._heartbeat()
            self._next_heartbeat = clock + self.config.heartbeat_interval_seconds
        if full or self.executor.has_outcomes():
            return 0.0
        return self._seconds_to_next_event(self.clock.monotonic())

    def _claim_limit(self) -> int:
        """How many executions to claim now: the free runners, plus a short prefetch."""
        if self._stopping:
            return 0
        capacity = self.pool.capacity()
        average = self.executor.average_seconds
        prefetch = 0
        if average is not None and average < PREFETCH_HORIZON_SECONDS:
            # Jobs queued on the runners start after about held / capacity × average.
            most = PREFETCH_PER_RUNNER * capacity
            prefetch = most if average <= 0 else min(
                most, int(capacity * PREFETCH_HORIZON_SECONDS / average))
        want = capacity + prefetch - self.pool.load()
        return max(0, min(want, self.config.claim_batch_size + prefetch))

    def _write_and_claim(self) -> bool:
        """One transaction: the buffered outcomes, and a claim; True if the claim was full."""
        finished = self.executor.outcomes_to_write()
        limit = self._claim_limit()
        if not finished and limit <= 0:
            return False
        claim = None
        if limit > 0:
            claim = ClaimRequest(self.worker_id, tuple(self.config.queues), limit,
                                 self.config.lease_seconds)
        try:
            report = self.store.execution_finish_many(finished, claim=claim)
        except DatabaseError:
            if len(finished) > self._told_waiting:
                log.warning("%d outcomes wait for the database (executions %s); they are "
                            "written when it is back", len(finished),
                            ", ".join(str(f.execution_id) for f in finished[:20])
                            + (", …" if len(finished) > 20 else ""))
            self._told_waiting = max(self._told_waiting, len(finished))
            raise
        self._told_waiting = 0
        self.executor.written(report)
        for execution in report.claimed:
            self.executor.start(execution)
        return limit > 0 and len(report.claimed) == limit

    def _register(self) -> None:
        self.store.worker_register(WorkerInfo(
            id=self.worker_id, kind="worker", hostname=socket.gethostname(), pid=os.getpid(),
            pool_size=self.config.pool_size, running=self.executor.unfinished(),
            handlers=tuple(self.registry.names()), queues=tuple(self.config.queues),
            version=__version__))
        self._registered = True
        if self._listen and self._listener is None:
            self._listener = self._start_listener()
        log.info("worker %s serving %s on queues %s with %d threads", self.worker_id,
                 ", ".join(self.registry.names()), ", ".join(self.config.queues),
                 self.config.pool_size)

    def _start_listener(self) -> Any:
        """Wake-ups without polling: LISTEN on PostgreSQL, the file's changes on SQLite."""
        dialect = self.store.database.dialect
        wake = self.wake.set
        if dialect.supports_notify:
            return Listener(self.store.database.spec, [EXECUTIONS_CHANNEL],
                            lambda channel, payload: wake()).start()
        if dialect.name == "sqlite" and self.store.database.spec.path not in (None, ":memory:"):
            return LocalChangeWatcher(self.store.database.spec.path, wake).start()
        if dialect.name == "mysql":
            return RunnableProbe(dialect.connect, self.store.query("execution_runnable_probe"),
                                 self.config.queues, wake).start()
        return None

    def _heartbeat(self) -> None:
        if not self.store.worker_heartbeat(self.worker_id, self.executor.unfinished()):
            self._registered = False  # pruned while away: register again
        renewal = self.store.execution_renew_leases(
            self.worker_id, self.executor.held(), self.config.lease_seconds)
        self.executor.renewed(renewal, CANCEL_GRACE_SECONDS)
        if renewal.cancel_requested:
            self.wake.set()
        rescue_expired(self.store)

    def poll_interval(self) -> float:
        """worker.yaml's poll_interval_seconds, or the default for this database."""
        if self.config.poll_interval_seconds is not None:
            return self.config.poll_interval_seconds
        if self._listener is not None:
            return POLL_WITH_WAKEUPS_SECONDS
        return POLL_WITHOUT_WAKEUPS_SECONDS

    def _seconds_to_next_event(self, clock: float) -> float:
        events = [self._next_heartbeat, clock + self.poll_interval()]
        deadline = self.executor.next_deadline()
        if deadline is not None:
            events.append(deadline)
        return max(0.0, min(events) - clock)

    # --- status and health ------------------------------------------------------------

    def status(self) -> str:
        running, stuck = self.pool.counts()
        text = (f"{min(running, self.config.pool_size)}/{self.config.pool_size} busy, "
                f"{stuck} stuck, {self.executor.done} done, {self.executor.failed} failed")
        waiting = self.executor.outcomes_waiting()
        if waiting:
            text += f", {waiting} outcomes waiting for the database"
        return text

    def healthy(self) -> bool:
        """Fed to the watchdog: not every runner is stuck."""
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
        queues_changed = tuple(worker.queues) != tuple(self.config.queues)
        self.config = worker
        if queues_changed and isinstance(self._listener, RunnableProbe):
            self._listener.stop()  # it asks about the old queues: ask about the new ones
            self._listener = self._start_listener()
        # The executor applies these to the attempts it starts from now on.
        self.executor.default_timeout = worker.default_timeout_seconds
        self.executor.backoff_cap = worker.retry_backoff_max_seconds

    # --- stopping -------------------------------------------------------------------

    def shutdown(self, hard_stop: threading.Event) -> None:
        """Stop claiming, let running jobs finish, hand back the rest, write every outcome."""
        self._stopping = True
        drain = self.config.shutdown_timeout_seconds
        if self.notifier is not None:
            # The worker cannot know the unit's TimeoutStopSec: it always says how long it needs
            # (systemd only ever lengthens its timeout with this, never shortens it).
            self.notifier.extend_timeout(drain + 15)
        clock = self.clock.monotonic
        deadline = clock() + drain
        running = self.executor.unfinished()
        if running:
            log.info("draining: waiting up to %gs for %d running jobs", drain, running)
        while self.executor.unfinished() and clock() < deadline and not hard_stop.is_set():
            self._quietly(lambda: self.run_once(self.clock.now()))
            self.wake.wait(min(0.2, max(0.0, deadline - clock())))
            self.wake.clear()
        released = self.executor.release_all()
        if released:
            log.info("handing back %d unfinished jobs", released)
        # Every outcome settled so far is written before the process exits. While the
        # database is away, keep trying until the stop deadline (or a second signal).
        write_until = max(deadline, clock() + STOP_RETRY_SECONDS)
        while self.executor.has_outcomes():
            waiting = self.executor.outcomes_waiting()
            if self._quietly(self._write_and_claim):
                if self.executor.outcomes_waiting() < waiting:
                    continue
                break  # written, yet still buffered: never loop on it
            if clock() >= write_until or hard_stop.is_set():
                break
            hard_stop.wait(STOP_RETRY_SECONDS)
        if self.executor.has_outcomes():
            ids = ", ".join(str(f.execution_id) for f in self.executor.outcomes_to_write())
            log.error("%d outcomes could not be written before the stop (executions %s): "
                      "the database is unavailable. Their leases expire within %gs and "
                      "a worker or dispatcher takes them back",
                      self.executor.outcomes_waiting(), ids, self.config.lease_seconds)
        self.pool.stop()
        if self._listener is not None:
            self._listener.stop()
        if self._registered:
            self._quietly(lambda: self.store.worker_deregister(self.worker_id))

    @staticmethod
    def _quietly(action) -> bool:
        try:
            action()
        except DatabaseError as error:
            log.warning("while stopping: %s", str(error).splitlines()[0])
            return False
        return True
