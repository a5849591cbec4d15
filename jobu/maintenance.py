"""The maintenance pass: take back executions whose worker died, prune old history.

Rescue also runs on its own in every worker (:func:`rescue_expired`, at each
heartbeat), so that jobs of a killed worker come back with no dispatcher running.

One pass, every ``maintenance_interval_seconds`` of dispatcher.yaml:

1. **Rescue.** RUNNING executions whose lease expired lost their worker (killed,
   crashed, cut off). They go back to RETRY when attempts remain, else FAILED,
   with "worker … lost (lease expired at …)" (``Store.execution_rescue_expired``).
2. **Prune.** Finished executions older than ``retention_days`` of their status
   are deleted, ``prune_batch_size`` at a time; a status kept 0 days is kept for
   ever. jobu-queued's dead letters are kept as long as FAILED executions
   (``retention_days.FAILED``: a message that could not run is a failure to look at), by
   the same batches (``Store.dead_letter_prune``), and jobu-admin's audit log for
   ``audit_retention_days`` (0: for ever).
3. **Workers.** Rows of daemons that stopped heartbeating long ago are removed
   (a live one that was only paused registers again at its next heartbeat).
4. **Statistics.** Finished executions are folded into the running totals that statistics
   read (``Store.stats_fold``, jobu.store.rollup), FOLD_BATCH executions at a time, until
   caught up: on a big history that was never folded, over many passes.

Every step is a short transaction of its own, and all of them are safe with
several dispatchers at once: rescue and prune skip rows another transaction holds,
a rescued attempt is fenced by its lease token, and one dispatcher folds at a time (the
others skip the step). A pass is a generator of those
steps (:meth:`Maintenance.steps`), so that the dispatcher can spread a long one
(a first prune of a big history) over several of its passes and never make a cron
tick wait for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from jobu.config import DispatcherConfig
from jobu.model import Status
from jobu.operations.audit import prune_audit
from jobu.store import Store
from jobu.store.stats import FOLD_BATCH

log = logging.getLogger("jobu.maintenance")

#: Executions taken back per rescue transaction.
RESCUE_BATCH = 100
#: Fold transactions per pass at most (FOLD_BATCH executions each): a history never folded
#: is folded over several passes, each step short.
FOLD_BATCHES_PER_PASS = 1000
#: A daemon's row is forgotten after this long without a heartbeat, at the least.
DEAD_WORKER_MIN_SECONDS = 600.0
#: ...or after this many of the workers' heartbeat intervals, if that is longer.
DEAD_WORKER_HEARTBEATS = 10


@dataclass
class MaintenanceTally:
    """What one maintenance pass did."""

    rescued: int = 0
    pruned: int = 0
    dead_letters_pruned: int = 0
    audit_pruned: int = 0
    workers_pruned: int = 0
    folded: int = 0


class Maintenance:
    """Rescue, prune and forget dead workers, one short transaction per step."""

    def __init__(self, store: Store, settings: DispatcherConfig, *,
                 worker_heartbeat_seconds: float = 10.0, database_clock: bool = True) -> None:
        """`database_clock`: leases and ages are judged by the database's clock (as in
        production); False judges them by the `now` given to each pass (tests)."""
        self.store = store
        self.settings = settings
        self.dead_worker_seconds = max(DEAD_WORKER_MIN_SECONDS,
                                       DEAD_WORKER_HEARTBEATS * worker_heartbeat_seconds)
        self.database_clock = database_clock
        self.tally = MaintenanceTally()

    def run(self, now: datetime) -> MaintenanceTally:
        """One whole pass, all steps in a row."""
        for _ in self.steps(now):
            pass
        return self.tally

    def steps(self, now: datetime) -> Iterator[None]:
        """One pass as a generator: each next() runs one transaction.

        `tally` counts what the pass has done so far.
        """
        self.tally = MaintenanceTally()
        stamp = None if self.database_clock else now
        yield from self._rescue(stamp)
        for status, days in sorted(self.settings.retention_days.items()):
            if days > 0:
                yield from self._prune(Status(status), days, stamp)
        dead_letter_days = self.settings.retention_days.get(Status.FAILED, 0)
        if dead_letter_days > 0:
            yield from self._prune_dead_letters(dead_letter_days, stamp)
        if self.settings.audit_retention_days > 0:
            yield from self._prune_audit(self.settings.audit_retention_days, stamp)
        self.tally.workers_pruned = self.store.worker_prune(self.dead_worker_seconds, now=stamp)
        if self.tally.workers_pruned:
            log.info("forgot %d daemon(s) silent for over %g s", self.tally.workers_pruned,
                     self.dead_worker_seconds)
        yield
        yield from self._fold(stamp)

    def _fold(self, stamp: datetime | None) -> Iterator[None]:
        for _ in range(FOLD_BATCHES_PER_PASS):
            looked_at = self.store.stats_fold(stamp, batch=FOLD_BATCH)
            self.tally.folded += looked_at
            yield
            if looked_at < FOLD_BATCH:
                return

    def _rescue(self, stamp: datetime | None) -> Iterator[None]:
        while True:
            rescued = rescue_batch(self.store, stamp)
            self.tally.rescued += rescued
            yield
            if rescued < RESCUE_BATCH:
                return

    def _prune(self, status: Status, days: int, stamp: datetime | None) -> Iterator[None]:
        batch = self.settings.prune_batch_size
        pruned = 0
        while True:
            deleted = self.store.execution_prune(status, days, batch_size=batch, now=stamp)
            pruned += deleted
            yield
            if deleted < batch:
                break
        if pruned:
            self.tally.pruned += pruned
            log.info("pruned %d %s executions finished over %d days ago", pruned, status, days)


    def _prune_dead_letters(self, days: int, stamp: datetime | None) -> Iterator[None]:
        batch = self.settings.prune_batch_size
        while True:
            deleted = self.store.dead_letter_prune(days, batch_size=batch, now=stamp)
            self.tally.dead_letters_pruned += deleted
            yield
            if deleted < batch:
                break
        if self.tally.dead_letters_pruned:
            log.info("pruned %d dead letters received over %d days ago",
                     self.tally.dead_letters_pruned, days)

    def _prune_audit(self, days: int, stamp: datetime | None) -> Iterator[None]:
        for deleted in prune_audit(self.store, days, batch_size=self.settings.prune_batch_size,
                                   now=stamp):
            self.tally.audit_pruned += deleted
            yield
        if self.tally.audit_pruned:
            log.info("pruned %d audit log rows written over %d days ago",
                     self.tally.audit_pruned, days)


def rescue_batch(store: Store, stamp: datetime | None = None) -> int:
    """Take back up to RESCUE_BATCH executions whose lease expired, in one transaction."""
    rescued = store.execution_rescue_expired(RESCUE_BATCH, now=stamp)
    for rescue in rescued:
        log.warning("execution %d taken back: %s, %s", rescue.execution_id, rescue.status,
                    rescue.message, extra={"execution_id": rescue.execution_id,
                                           "outcome": str(rescue.status)})
    return len(rescued)


def rescue_expired(store: Store, stamp: datetime | None = None, *,
                   max_batches: int = 10) -> int:
    """Take back executions whose lease expired, a few batches at most (the workers' share).

    Every worker calls this at each heartbeat, so that rescue needs no dispatcher: with
    SKIP LOCKED and the fenced rescue, any number of callers share the work safely.
    """
    total = 0
    for _ in range(max_batches):
        rescued = rescue_batch(store, stamp)
        total += rescued
        if rescued < RESCUE_BATCH:
            break
    return total
