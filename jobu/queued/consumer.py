"""The Service of `jobu queued`: messages of the assigned partitions become executions.

One pass (``run_once``):

1. Every third of a lease, the partition leases are balanced in the jobs database
   (``Store.queue_leases_balance``): the leases held are renewed, partitions are taken or
   given back so that the live jobu-queued processes share them evenly, and the Source is
   told which partitions to read from which stored position.
2. A batch is received and each message becomes an execution or a dead letter
   (:mod:`jobu.operations.queue_messages`).
3. The executions, the dead letters and each partition's new position are written in ONE
   transaction, fenced by the partitions' lease tokens (``Store.queue_commit_batch``). A
   partition whose lease was lost meanwhile is dropped and the rest written again; nothing
   of a lost partition is ever written. After the commit the Source acknowledges
   (Kafka: the group's offsets).

A database outage raises out of the pass (the Daemon logs it once and backs off); the batch
in hand is abandoned, so the Source delivers it again from the stored positions. A broker
outage is logged once when it starts and once when it ends, and the pass backs off.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from jobu import __version__
from jobu.clock import Clock, SystemClock
from jobu.config import Config, QueueConfig
from jobu.errors import DatabaseError
from jobu.model import NewExecution, WorkerInfo
from jobu.operations.queue_messages import Rejected, to_execution
from jobu.queued.source import Record, Source, SourceUnavailableError, TopicPartition
from jobu.retry import exponential_seconds
from jobu.store import Store
from jobu.store.queue import NewDeadLetter, QueueAdvance, QueueLease, QueueMessage

log = logging.getLogger("jobu.queued")

#: Longest wait between two attempts to reach unavailable brokers, in seconds.
BROKER_BACKOFF_CAP_SECONDS = 30.0


def new_queued_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:queued:{secrets.token_hex(2)}"


def describe(partitions: Sequence[TopicPartition] | set[TopicPartition]) -> str:
    return ", ".join(f"{topic}[{partition}]" for topic, partition in sorted(partitions))


class QueueConsumer:
    """Turns the messages of the partitions it leases into executions (see the module)."""

    name = "queued"

    def __init__(self, store: Store, config: QueueConfig, source: Source, *,
                 clock: Clock | None = None, queued_id: str | None = None) -> None:
        self.store = store
        self.config = config
        self.source = source
        self.clock = clock or SystemClock()
        self.queued_id = queued_id or new_queued_id()
        self.leases: dict[TopicPartition, QueueLease] = {}
        #: The stored position (next offset) of each partition held; None: none yet.
        self.positions: dict[TopicPartition, int | None] = {}
        self.written = 0
        self.dead_letters = 0
        self._registered = False
        self._next_balance = float("-inf")
        self._broker_failures = 0
        self._broker_down: str | None = None
        self._rate_mark = (self.clock.monotonic(), 0)
        self._rate = 0.0

    # --- the pass --------------------------------------------------------------------

    def run_once(self, now: datetime) -> float:
        """One pass; returns the seconds until the next (0: at once).

        A DatabaseError leaves it for the Daemon (one log line, backoff); the next pass then
        starts with the database (the lease balance), so nothing is fetched while it is away.
        """
        try:
            return self._pass()
        except DatabaseError:
            self._next_balance = float("-inf")
            raise

    def _pass(self) -> float:
        try:
            self.source.connect()
            if self.clock.monotonic() >= self._next_balance:
                self._balance()
            if not self.leases:
                self._broker_state(None)
                return self._balance_interval()
            records = self.source.receive(self.config.max_batch,
                                          self.config.poll_timeout_ms / 1000)
        except SourceUnavailableError as error:
            return self._broker_state(str(error))
        self._broker_state(None if records or self.source.available()
                           else "no connection to any broker")
        if records:
            self._write(records)
            return 0.0
        return 0.0 if self._broker_down is None else self._broker_backoff()

    def _balance_interval(self) -> float:
        return self.config.lease_seconds / 3

    def _balance(self) -> None:
        """Renew, take and give back partition leases; point the Source at the result."""
        topics = sorted(self.config.topics)
        self._keep_registered()
        self.store.queue_partitions_ensure(self.config.kafka.group_id,
                                           self.source.partitions(topics))
        held = {tp: lease.token for tp, lease in self.leases.items()}
        leases = self.store.queue_leases_balance(
            self.config.kafka.group_id, self.queued_id, held, self.config.lease_seconds, topics)
        self._next_balance = self.clock.monotonic() + self._balance_interval()
        gone = {tp for tp in held if tp not in leases}
        fresh = {tp for tp, lease in leases.items() if held.get(tp) != lease.token}
        if gone:
            log.warning("gave up partitions %s (their leases were lost or are now another "
                        "process's share)", describe(gone))
        if fresh:
            log.info("took partitions %s", describe(fresh))
        self.leases = leases
        self.positions = {tp: (leases[tp].next_offset if tp in fresh else self.positions[tp])
                          for tp in leases}
        if gone or fresh:
            self.source.assign({tp: self.positions[tp] if tp in fresh else None
                                for tp in leases})
            self.source.abandon({tp: self.positions[tp] for tp in fresh})

    def _keep_registered(self) -> None:
        if self._registered and self.store.worker_heartbeat(self.queued_id, len(self.leases)):
            return
        topics = self.config.topics
        handlers = sorted({name for topic in topics.values()
                           for name in (topic.handler, *topic.allowed_handlers) if name})
        self.store.worker_register(WorkerInfo(
            id=self.queued_id, kind="queued", hostname=socket.gethostname(), pid=os.getpid(),
            running=len(self.leases), handlers=tuple(handlers), queues=tuple(sorted(topics)),
            version=__version__))
        self._registered = True

    # --- a batch -----------------------------------------------------------------------

    def _write(self, records: list[Record]) -> None:
        """Write `records` (those of partitions still held) with their positions, once."""
        by_partition: dict[TopicPartition, list[Record]] = defaultdict(list)
        for record in records:
            position = self.positions.get(record.topic_partition, -1)
            if record.topic_partition in self.leases and (position is None
                                                          or record.offset >= position):
                by_partition[record.topic_partition].append(record)
        while by_partition:
            executions, origins, letters = self._decide(
                [r for rs in by_partition.values() for r in rs])
            advances = [QueueAdvance(topic, partition, self.leases[(topic, partition)].token,
                                     self.positions[(topic, partition)], found[-1].offset + 1)
                        for (topic, partition), found in by_partition.items()]
            try:
                report = self.store.queue_commit_batch(
                    self.config.kafka.group_id, advances, executions, letters,
                    messages=origins)
            except DatabaseError:
                self.source.abandon({tp: self.positions[tp] for tp in by_partition})
                raise
            if not report.lost:
                break
            log.warning("lost partitions %s before writing their messages; another process "
                        "has them now", describe(report.lost))
            for tp in report.lost:
                del by_partition[tp], self.leases[tp], self.positions[tp]
            self.source.assign(dict.fromkeys(self.leases))
        else:  # every partition of the batch was lost: nothing was written
            return
        reached = {advance_tp: found[-1].offset + 1
                   for advance_tp, found in by_partition.items()}
        self.positions.update(reached)
        self.source.complete(reached)
        self.written += report.inserted
        self.dead_letters += report.dead_letters
        if report.duplicates:
            log.warning("%d messages were already executions (dedupe key topic/partition/"
                        "offset); not written again", report.duplicates)
        if letters:
            for letter in letters:
                log.warning("dead letter %s[%d] offset %d: %s", letter.topic, letter.partition,
                            letter.offset, letter.reason)

    def _decide(self, records: list[Record]) -> tuple[
            list[NewExecution], list[QueueMessage | None], list[NewDeadLetter]]:
        """Each record's execution (with its key and headers to keep, None when it has
        neither), or its dead letter."""
        decided = [(record, to_execution(record, self.config.topics.get(record.topic),
                                         self.config.max_message_bytes))
                   for record in records]
        crons = {d.job_id for _, d in decided if isinstance(d, NewExecution) and d.job_id}
        known = self.store.cron_ids_existing(crons) if crons else set()
        executions: list[NewExecution] = []
        origins: list[QueueMessage | None] = []
        letters: list[NewDeadLetter] = []
        for record, decision in decided:
            if isinstance(decision, NewExecution) and decision.job_id not in (None, *known):
                decision = Rejected(f"job_id {decision.job_id} names no cron")
            if isinstance(decision, Rejected):
                letters.append(NewDeadLetter(
                    record.topic, record.partition, record.offset, record.key,
                    tuple(record.headers), record.value or b"", decision.reason))
            else:
                executions.append(decision)
                origins.append(QueueMessage(record.topic, record.partition, record.offset,
                                            record.key, tuple(record.headers))
                               if record.key is not None or record.headers else None)
        return executions, origins, letters

    # --- brokers -----------------------------------------------------------------------

    def _broker_state(self, problem: str | None) -> float:
        """Log a change of the brokers' state once; the backoff while they are away."""
        if problem is None:
            if self._broker_down is not None:
                log.warning("Kafka brokers available again after %d failed attempts",
                            self._broker_failures)
            self._broker_down, self._broker_failures = None, 0
            return 0.0
        if self._broker_down is None:
            log.error("Kafka brokers unavailable: %s; retrying, at most every %g s",
                      problem, BROKER_BACKOFF_CAP_SECONDS)
        self._broker_down = problem
        self._broker_failures += 1
        return self._broker_backoff()

    def _broker_backoff(self) -> float:
        return exponential_seconds(self._broker_failures, 0.5, BROKER_BACKOFF_CAP_SECONDS)

    # --- the Service's other duties --------------------------------------------------

    def status(self) -> str:
        tick = self.clock.monotonic()
        since, count = self._rate_mark
        if tick - since >= 1.0:
            self._rate = (self.written - count) / (tick - since)
            self._rate_mark = (tick, self.written)
        text = (f"{len(self.leases)} partitions of {len(self.config.topics)} topics; "
                f"{self._rate:.0f} messages/s; {self.written} executions, "
                f"{self.dead_letters} dead letters written")
        lag = self.lag()
        if lag:
            shown = ", ".join(f"{topic}[{partition}] {behind}"
                              for (topic, partition), behind in sorted(lag.items())[:8])
            more = ", …" if len(lag) > 8 else ""
            text += f"; lag {sum(lag.values())} ({shown}{more})"
        if self._broker_down is not None:
            text += f"; Kafka brokers unavailable ({self._broker_down[:120]})"
        return text

    def lag(self) -> dict[TopicPartition, int]:
        """Per partition held: the source's last known end offset (high watermark) minus
        the stored position; partitions whose end or position is not known are left out."""
        ends = self.source.end_offsets()
        return {tp: max(0, ends[tp] - position) for tp, position in self.positions.items()
                if position is not None and tp in ends}

    def healthy(self) -> bool:
        return True

    def reload(self, config: Config) -> None:
        if config.queue.kafka != self.config.kafka:
            log.warning("queue.yaml kafka settings changed: restart jobu-queued to apply them "
                        "(topics and their settings apply now)")
            config_queue = QueueConfig(**{**config.queue.__dict__, "kafka": self.config.kafka})
        else:
            config_queue = config.queue
        self.config = config_queue
        self._next_balance = float("-inf")

    def shutdown(self, hard_stop: threading.Event) -> None:
        """Give the leases back (others take the partitions at once) and leave."""
        try:
            if self.leases:
                self.store.queue_leases_release(
                    self.config.kafka.group_id,
                    {tp: lease.token for tp, lease in self.leases.items()})
            if self._registered:
                self.store.worker_deregister(self.queued_id)
        except DatabaseError as error:
            log.warning("could not give back partition leases (they expire by themselves "
                        "within %g s): %s", self.config.lease_seconds, error)
        finally:
            self.leases.clear()
            self.source.disconnect()

