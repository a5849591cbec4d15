"""The Source of jobu-queued over Kafka, with kafka-python 2.0.2 (Debian 12) or 3.x.

Partitions are assigned by hand (``assign`` + ``seek``), never through Kafka's group
protocol: jobu-queued's partition leases live in the jobs database, which DESIGN.md makes the
only coordination point, and a manual assignment works with every client version (Debian's
2.0.2 cannot join a group on some brokers). Offsets are still committed under ``group_id``
after each database commit (``complete``), without joining the group, so the usual Kafka tools
show the group's progress; that commit is best effort, since the database holds the truth.

Two clients: the one that fetches has NO group_id, because kafka-python 2.0.2's ``poll``
waits for the group coordinator without any timeout when it has one, so a broker outage
would hang the daemon; a second one, holding the group_id, only commits, asynchronously
(``commit_async``: it never blocks, and a commit lost in an outage is made good by the next).

kafka-python logs every failed connection attempt; jobu-queued says once when the brokers go
away and once when they are back (``available``), so its loggers are quietened here.

Whether the brokers are reachable is learnt through kafka-python's public API only, the same in
2.0.2 and 3.x: a fetch that returns messages proves it; after an empty one, a ListOffsets
request (``end_offsets``, bounded by ``request_timeout_ms``) is the probe, at most once per
``PROBE_INTERVAL_SECONDS`` while the brokers are up. Its answer is also each partition's high
watermark, which with ``highwater()`` (known from fetches) gives the lag.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from jobu.clock import Clock, SystemClock
from jobu.config import KafkaConfig
from jobu.queued.source import Record, SourceUnavailableError, TopicPartition

log = logging.getLogger("jobu.queued.kafka")

#: While the brokers answer, an idle source asks them again at most this often.
PROBE_INTERVAL_SECONDS = 1.0
#: How long the broker may hold a fetch that finds no new message (kafka-python's default is
#: 500 ms). A broker answers as soon as a message arrives, in principle; Tansu (the test
#: broker) and others under load answer late, by up to this: 100 ms keeps a message's way to
#: its execution row short (p50 ~30 ms at 100 messages/s, against ~130 ms at 500) for about
#: ten empty fetches a second per broker when idle.
FETCH_MAX_WAIT_MS = 100
#: How long one request (a probe included) may wait for a broker: an outage is noticed
#: within this; it must exceed the fetch's own wait (fetch_max_wait_ms, 500 ms).
REQUEST_TIMEOUT_MS = 5000


def client_settings(kafka: KafkaConfig) -> dict[str, Any]:
    """queue.yaml `kafka:` as kafka-python's keyword arguments (security included)."""
    settings: dict[str, Any] = {"bootstrap_servers": list(kafka.bootstrap_servers),
                                "security_protocol": kafka.security_protocol}
    if kafka.client_id:
        settings["client_id"] = kafka.client_id
    if kafka.sasl_mechanism:
        settings["sasl_mechanism"] = kafka.sasl_mechanism
    if kafka.sasl_username is not None:
        settings["sasl_plain_username"] = kafka.sasl_username
    if kafka.sasl_password is not None:
        settings["sasl_plain_password"] = kafka.sasl_password
    if kafka.ssl_cafile:
        settings["ssl_cafile"] = kafka.ssl_cafile
    return settings


def _offset_and_metadata(offset: int) -> Any:
    from kafka.structs import OffsetAndMetadata
    try:  # 3 fields (leader_epoch) since kafka-python 2.1, 2 in 2.0.x
        return OffsetAndMetadata(offset, "", -1)
    except TypeError:
        return OffsetAndMetadata(offset, "")


class KafkaSource:
    """A Source reading the partitions it is assigned, from the positions it is given."""

    def __init__(self, kafka: KafkaConfig, *, start_from: str = "earliest",
                 commit_offsets: bool = True, clock: Clock | None = None) -> None:
        self.kafka = kafka
        self.start_from = start_from
        self.commit_offsets = commit_offsets
        self.clock = clock or SystemClock()
        self._consumer: Any = None
        self._committer: Any = None
        self._assigned: dict[TopicPartition, Any] = {}
        self._available = False
        self._next_probe = float("-inf")
        self._ends: dict[TopicPartition, int] = {}

    # --- connection ---------------------------------------------------------------

    def connect(self) -> None:
        if self._consumer is not None:
            return
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError
        for name in ("kafka", "kafka.conn", "kafka.client", "kafka.coordinator"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        try:
            self._consumer = KafkaConsumer(
                group_id=None, enable_auto_commit=False,
                auto_offset_reset=self.start_from, request_timeout_ms=REQUEST_TIMEOUT_MS,
                fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
                **client_settings(self.kafka))
            if self.commit_offsets:
                self._committer = KafkaConsumer(
                    group_id=self.kafka.group_id, enable_auto_commit=False,
                    request_timeout_ms=REQUEST_TIMEOUT_MS,
                    # no group is joined; 2.0.2 wants these below the request timeout
                    session_timeout_ms=REQUEST_TIMEOUT_MS - 1000, heartbeat_interval_ms=1000,
                    **client_settings(self.kafka))
        except (KafkaError, OSError, ValueError) as error:
            # kafka-python 2.0.2 lets a ValueError out when a connection closes while it
            # checks the broker's version
            self.disconnect()
            self._available = False
            raise SourceUnavailableError(f"cannot reach the Kafka brokers "
                                         f"{', '.join(self.kafka.bootstrap_servers)}: "
                                         f"{error}") from error
        self._available = True

    def disconnect(self) -> None:
        try:
            for client in (self._committer, self._consumer):
                if client is not None:
                    with contextlib.suppress(Exception):  # leaving: nothing left to save
                        client.close(autocommit=False)
        finally:
            self._consumer, self._committer, self._assigned = None, None, {}

    def available(self) -> bool:
        """Whether the brokers answered the last fetch or probe (see the module)."""
        return self._consumer is not None and self._available

    def _probe(self) -> None:
        """After an empty fetch: ask the brokers for the assigned partitions' end offsets
        (bounded by REQUEST_TIMEOUT_MS), at most every PROBE_INTERVAL_SECONDS while they
        answer; every time while they do not, the caller backing off between attempts."""
        tick = self.clock.monotonic()
        if self._available and tick < self._next_probe:
            return
        from kafka.errors import KafkaError
        by_kafka = {kafka_tp: tp for tp, kafka_tp in self._assigned.items()}
        try:
            ends = self._consumer.end_offsets(list(by_kafka))
        except (KafkaError, AssertionError, OSError, ValueError) as error:
            log.debug("broker probe failed: %s", error)
            self._available = False
        else:
            self._available = True
            self._ends.update({by_kafka[kafka_tp]: int(end) for kafka_tp, end in ends.items()
                               if kafka_tp in by_kafka and end is not None})
        self._next_probe = self.clock.monotonic() + PROBE_INTERVAL_SECONDS

    def end_offsets(self) -> dict[TopicPartition, int]:
        """The last known end offset (high watermark) of each assigned partition: from the
        fetches (``highwater``) or the last probe, whichever is further; no I/O."""
        known: dict[TopicPartition, int] = {}
        for tp, kafka_tp in self._assigned.items():
            fetched = self._consumer.highwater(kafka_tp) if self._consumer is not None else None
            candidates = [end for end in (fetched, self._ends.get(tp)) if end is not None]
            if candidates:
                known[tp] = max(candidates)
        return known

    # --- partitions -----------------------------------------------------------------

    def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        from kafka.errors import KafkaError
        consumer = self._connected()
        found: list[TopicPartition] = []
        try:
            for topic in topics:
                numbers = consumer.partitions_for_topic(topic) or set()
                found += [(topic, number) for number in sorted(numbers)]
        except KafkaError as error:
            raise SourceUnavailableError(f"reading the partitions of {topic!r}: {error}") \
                from error
        return found

    def assign(self, positions: Mapping[TopicPartition, int | None]) -> None:
        from kafka import TopicPartition as KafkaPartition
        consumer = self._connected()
        wanted = {tp: KafkaPartition(*tp) for tp in positions}
        if set(wanted) != set(self._assigned):
            consumer.assign(list(wanted.values()))
            self._ends = {tp: end for tp, end in self._ends.items() if tp in wanted}
        for tp, position in positions.items():
            if tp not in self._assigned or position is not None:
                self._seek(wanted[tp], position)
        self._assigned = wanted

    def _seek(self, partition: Any, position: int | None) -> None:
        if position is not None:
            self._consumer.seek(partition, position)
        elif self.start_from == "latest":
            self._consumer.seek_to_end(partition)
        else:
            self._consumer.seek_to_beginning(partition)

    # --- messages -------------------------------------------------------------------

    def receive(self, max_records: int, timeout_seconds: float) -> list[Record]:
        if not self._assigned:
            return []
        from kafka.errors import KafkaError
        consumer = self._connected()
        try:
            batch = consumer.poll(timeout_ms=int(timeout_seconds * 1000),
                                  max_records=max_records)
        except (KafkaError, OSError, ValueError) as error:  # ValueError: see connect
            self._available = False
            raise SourceUnavailableError(f"fetching messages: {error}") from error
        records = [Record(topic=message.topic, partition=message.partition,
                          offset=message.offset, value=message.value, key=message.key,
                          headers=tuple(message.headers or ()),
                          timestamp_ms=message.timestamp)
                   for messages in batch.values() for message in messages]
        if records:
            self._available = True
            self._next_probe = self.clock.monotonic() + PROBE_INTERVAL_SECONDS
        else:
            self._probe()
        return records

    def complete(self, positions: Mapping[TopicPartition, int]) -> None:
        if not positions or self._committer is None:
            return
        offsets = {self._assigned[tp]: _offset_and_metadata(offset)
                   for tp, offset in positions.items() if tp in self._assigned}
        try:
            if self._committer is not None:
                self._committer.commit_async(offsets)
        except Exception as error:  # noqa: BLE001 - best effort: never take the daemon down
            # The jobs database holds the position; Kafka's copy is for lag tooling only.
            log.debug("committing offsets to Kafka failed (the database has them): %s", error)

    def abandon(self, positions: Mapping[TopicPartition, int | None]) -> None:
        if self._consumer is None:
            return
        for tp, position in positions.items():
            if tp in self._assigned:
                self._seek(self._assigned[tp], position)

    def _connected(self) -> Any:
        if self._consumer is None:
            self.connect()
        return self._consumer
