"""The Source of jobu-queued over Kafka, with kafka-python 2.0.2 (Debian 12) or 3.x.

Partitions are assigned by hand (``assign`` + ``seek``), never through Kafka's group
protocol: jobu-queued's partition leases live in the jobs database, which DESIGN.md makes the
only coordination point, and a manual assignment works with every client version (Debian's
2.0.2 cannot join a group on some brokers). Offsets are still committed under ``group_id``
after each database commit (``complete``), without joining the group, so the usual Kafka tools
show the group's progress; that commit is best effort, since the database holds the truth.

kafka-python logs every failed connection attempt; jobu-queued says once when the brokers go
away and once when they are back (``available``), so its loggers are quietened here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from jobu.configschema import KafkaConfig
from jobu.queued.source import Record, SourceUnavailableError, TopicPartition

log = logging.getLogger("jobu.queued.kafka")


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
                 commit_offsets: bool = True) -> None:
        self.kafka = kafka
        self.start_from = start_from
        self.commit_offsets = commit_offsets
        self._consumer: Any = None
        self._assigned: dict[TopicPartition, Any] = {}
        self._available = False

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
                group_id=self.kafka.group_id, enable_auto_commit=False,
                auto_offset_reset=self.start_from, **client_settings(self.kafka))
        except KafkaError as error:
            self._available = False
            raise SourceUnavailableError(f"cannot reach the Kafka brokers "
                                         f"{', '.join(self.kafka.bootstrap_servers)}: "
                                         f"{error}") from error
        self._available = True

    def disconnect(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False)
            finally:
                self._consumer, self._assigned = None, {}

    def available(self) -> bool:
        """True when a broker connection is up (after the last receive), else False."""
        if self._consumer is None:
            return False
        client = self._consumer._client  # kafka-python has no public probe
        try:
            self._available = any(client.connected(broker.nodeId)
                                  for broker in client.cluster.brokers())
        except Exception:  # a probe must not take the daemon down
            log.debug("broker probe failed", exc_info=True)
        return self._available

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
        except KafkaError as error:
            self._available = False
            raise SourceUnavailableError(f"fetching messages: {error}") from error
        records = [Record(topic=message.topic, partition=message.partition,
                          offset=message.offset, value=message.value, key=message.key,
                          headers=tuple(message.headers or ()),
                          timestamp_ms=message.timestamp)
                   for messages in batch.values() for message in messages]
        if records:
            self._available = True
        return records

    def complete(self, positions: Mapping[TopicPartition, int]) -> None:
        if not self.commit_offsets or not positions or self._consumer is None:
            return
        from kafka.errors import KafkaError
        offsets = {self._assigned[tp]: _offset_and_metadata(offset)
                   for tp, offset in positions.items() if tp in self._assigned}
        try:
            self._consumer.commit(offsets)
        except (KafkaError, AssertionError) as error:
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
