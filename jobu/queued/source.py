"""The adapter interface of a message source, and the messages it hands over.

jobu-queued reads messages through a Source, so that a site can feed it from something else
than Kafka. The contract, synchronous like the rest of jobu:

* ``connect()`` / ``disconnect()`` — open and close the connection; ``connect`` raises
  :class:`SourceUnavailableError` when the source cannot be reached (jobu-queued retries).
* ``partitions(topics)`` — the (topic, partition) pairs that exist now.
* ``assign(positions)`` — read exactly these partitions from now on, each from its position
  (the next offset to read; None: the configured start, earliest or latest).
* ``receive(max_records, timeout_seconds)`` — the next messages of the assigned partitions,
  in offset order within each partition, waiting at most `timeout_seconds` for the first.
* ``complete(positions)`` — the messages before these positions are written to the jobs
  database (an acknowledgement; Kafka commits its group offsets here, for lag tooling).
* ``abandon(positions)`` — the messages received since these positions were NOT written:
  deliver them again.
* ``available()`` — whether the last call found the source reachable.
* ``end_offsets()`` — the last known end offset (high watermark: the offset the next
  message will have) of each assigned partition, without I/O; jobu-queued reports the lag
  (end offset minus stored position) in its status. A source that cannot tell returns {}.

The jobs database, not the source, is the record of what was consumed: a Source need not
remember anything across restarts.

:class:`Record` (and TopicPartition) are defined in jobu.operations.queue_messages, beside the
checks that turn a message into an execution, so that a dead letter's replay can make them
too; they are the same names here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from jobu.errors import JobuError
from jobu.operations.queue_messages import Record, TopicPartition

__all__ = ["Record", "Source", "SourceUnavailableError", "TopicPartition"]

class SourceUnavailableError(JobuError):
    """The message source (the Kafka brokers) cannot be reached; check that they run and
    that queue.yaml kafka.bootstrap_servers and the security settings are right."""


class Source(Protocol):
    """What jobu-queued reads messages from; see the module's docstring for the contract."""

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def partitions(self, topics: Iterable[str]) -> list[TopicPartition]: ...

    def assign(self, positions: Mapping[TopicPartition, int | None]) -> None: ...

    def receive(self, max_records: int, timeout_seconds: float) -> list[Record]: ...

    def complete(self, positions: Mapping[TopicPartition, int]) -> None: ...

    def abandon(self, positions: Mapping[TopicPartition, int | None]) -> None: ...

    def available(self) -> bool: ...

    def end_offsets(self) -> dict[TopicPartition, int]: ...
