"""The adapter interface of jobu-queued (jobu.queued.source.Source), proved with an adapter
defined here: an in-memory message log, as a site would write one for another queue.

Two halves:

* `check_source_contract` states what a Source must do (connect/disconnect, partitions,
  assign from a position, receive in offset order, abandon re-delivers, available,
  end_offsets); it runs against the adapter below and against the Kafka adapter.
* The QueueConsumer tests drive jobu-queued through the adapter only: messages become
  executions once, `complete` acknowledges what was written, a failed write is `abandon`ed
  and delivered again, an unreachable source is retried with backoff and said once, a
  restart resumes from the stored positions, and the lag in STATUS comes from end_offsets.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping

import pytest

from jobu.config import KafkaConfig, QueueConfig, TopicConfig
from jobu.errors import DatabaseError
from jobu.model import ExecutionFilter
from jobu.queued.consumer import QueueConsumer
from jobu.queued.kafka import KafkaSource
from jobu.queued.source import Record, Source, SourceUnavailableError, TopicPartition
from tests.servers import wait_until
from tests.support import kafka as kafka_support
from tests.support.kafka import KAFKA_SOCKET_LEAK

pytestmark = KAFKA_SOCKET_LEAK

kafka_broker = kafka_support.kafka_broker  # the session's broker fixture


class MemoryLog:
    """What the adapter reads: per (topic, partition) a list of messages, offset = index."""

    def __init__(self, partitions: Mapping[str, int]) -> None:
        self.messages: dict[TopicPartition, list[Record]] = {
            (topic, number): [] for topic, count in partitions.items() for number in range(count)}
        self.reachable = True

    def append(self, topic: str, partition: int, value: bytes, key: bytes | None = None,
               headers: tuple[tuple[str, bytes], ...] = ()) -> int:
        log = self.messages[(topic, partition)]
        log.append(Record(topic, partition, len(log), value, key, headers))
        return len(log) - 1


class MemorySource:
    """A Source over a MemoryLog, written against the interface alone; it records the calls
    jobu-queued makes so that the tests can hold it to the contract."""

    def __init__(self, log: MemoryLog) -> None:
        self.log = log
        self.connected = False
        self.cursor: dict[TopicPartition, int] = {}
        self.completed: dict[TopicPartition, int] = {}
        self.abandoned: list[dict[TopicPartition, int | None]] = []
        self.calls: list[str] = []

    def _reach(self) -> None:
        if not self.log.reachable:
            self.connected = False
            raise SourceUnavailableError("the memory log is unreachable")

    def connect(self) -> None:
        self.calls.append("connect")
        self._reach()
        self.connected = True

    def disconnect(self) -> None:
        self.calls.append("disconnect")
        self.connected, self.cursor = False, {}

    def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        self._reach()
        wanted = set(topics)
        return sorted(tp for tp in self.log.messages if tp[0] in wanted)

    def assign(self, positions: Mapping[TopicPartition, int | None]) -> None:
        assert self.connected, "assign before connect"
        self.cursor = {tp: self.cursor.get(tp, 0) if position is None else position
                       for tp, position in positions.items()}

    def receive(self, max_records: int, timeout_seconds: float) -> list[Record]:
        assert self.connected, "receive before connect"
        self._reach()
        found: list[Record] = []
        for tp, at in sorted(self.cursor.items()):
            taken = self.log.messages[tp][at:at + max_records - len(found)]
            self.cursor[tp] = at + len(taken)
            found += taken
        return found

    def complete(self, positions: Mapping[TopicPartition, int]) -> None:
        self.completed.update(positions)

    def abandon(self, positions: Mapping[TopicPartition, int | None]) -> None:
        self.abandoned.append(dict(positions))
        for tp, position in positions.items():
            if tp in self.cursor:
                self.cursor[tp] = position or 0

    def available(self) -> bool:
        return self.connected and self.log.reachable

    def end_offsets(self) -> dict[TopicPartition, int]:
        return {tp: len(self.log.messages[tp]) for tp in self.cursor}


# --- the contract, for any Source ----------------------------------------------------------

def check_source_contract(source: Source, topic: str,
                          produce: Callable[[int, list[bytes]], None]) -> None:
    """What jobu-queued relies on, checked against `source` (a topic of 2 partitions)."""
    source.connect()
    try:
        assert source.partitions([topic]) == [(topic, 0), (topic, 1)]
        produce(0, [b"a0", b"a1", b"a2"])
        produce(1, [b"b0"])
        source.assign({(topic, 0): 1, (topic, 1): None})  # from offset 1; from the start
        got = _receive_all(source, 4 - 1)
        assert [(r.partition, r.offset, r.value) for r in got] == [
            (0, 1, b"a1"), (0, 2, b"a2"), (1, 0, b"b0")]
        assert source.available()
        source.abandon({(topic, 0): 2})  # not written: deliver again from offset 2
        again = _receive_all(source, 1)
        assert [(r.partition, r.offset) for r in again] == [(0, 2)]
        source.complete({(topic, 0): 3, (topic, 1): 1})
        ends = wait_until(lambda: source.end_offsets().get((topic, 1)) == 1
                          and source.end_offsets(), 10)
        assert ends.get((topic, 0), 3) == 3  # a source that cannot tell may leave it out
        source.assign({(topic, 1): None})  # only partition 1 from now on
        produce(0, [b"a3"])
        produce(1, [b"b1"])
        assert [(r.partition, r.value) for r in _receive_all(source, 1)] == [(1, b"b1")]
    finally:
        source.disconnect()


def _receive_all(source: Source, count: int) -> list[Record]:
    found: list[Record] = []

    def more() -> bool:
        found.extend(source.receive(100, 0.2))
        return len(found) >= count
    wait_until(more, 20, interval=0)
    found.extend(source.receive(100, 0.1))  # nothing beyond
    by_partition = sorted(found, key=lambda r: (r.partition, r.offset))
    assert found == sorted(found, key=lambda r: r.partition) or by_partition, found
    for partition in {r.partition for r in found}:
        offsets = [r.offset for r in found if r.partition == partition]
        assert offsets == sorted(offsets), "offset order within a partition"
    return by_partition


def test_the_memory_adapter_keeps_the_contract():
    log = MemoryLog({"t": 2})
    check_source_contract(MemorySource(log), "t",
                          lambda partition, values: [log.append("t", partition, v)
                                                     for v in values])


def test_the_kafka_adapter_keeps_the_contract(kafka_broker):
    topic = kafka_broker.create_topic(2)
    kafka = KafkaConfig(bootstrap_servers=(kafka_broker.bootstrap,), group_id=f"g-{topic}")
    check_source_contract(KafkaSource(kafka), topic,
                          lambda partition, values: kafka_broker.produce(
                              topic, values, partition=partition))


# --- jobu-queued through the adapter -------------------------------------------------------

def settings(**extra) -> QueueConfig:
    return QueueConfig(enabled=True, kafka=KafkaConfig(bootstrap_servers=("memory",),
                                                      group_id="g-memory"),
                       topics={"t": TopicConfig(handler="noop")},
                       **{"max_batch": 50, "lease_seconds": 5, **extra})


def body(n: int) -> bytes:
    return json.dumps({"params": {"n": n}}).encode()


def numbers(store) -> list[int]:
    return sorted(r.params["n"] for r in store.execution_list(ExecutionFilter(),
                                                               limit=10_000).items)


class FailingWrites:
    """The store, but the next `failures` batch writes fail as in a database outage."""

    def __init__(self, store, failures: int) -> None:
        self._store, self.failures = store, failures

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def queue_commit_batch(self, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise DatabaseError("connection lost (simulated)", transient=True)
        return self._store.queue_commit_batch(*args, **kwargs)


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_jobu_queued_through_the_adapter_writes_once_and_acknowledges(store):
    log = MemoryLog({"t": 2})
    for n in range(120):
        log.append("t", n % 2, body(n))
    source = MemorySource(log)
    queued = QueueConsumer(store, settings(), source, queued_id="test:memory")
    while queued.run_once(None) == 0 and len(numbers(store)) < 120:
        pass
    assert numbers(store) == list(range(120))
    assert source.calls[0] == "connect"
    assert source.completed == {("t", 0): 60, ("t", 1): 60}
    assert {p.partition: p.next_offset for p in store.queue_partitions("g-memory")} == {
        0: 60, 1: 60}
    queued.shutdown(threading.Event())
    assert source.calls[-1] == "disconnect"


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_a_failed_write_is_abandoned_and_delivered_again_once(store):
    log = MemoryLog({"t": 1})
    for n in range(10):
        log.append("t", 0, body(n))
    source = MemorySource(log)
    flaky = FailingWrites(store, failures=2)
    queued = QueueConsumer(flaky, settings(), source, queued_id="test:memory")
    for _ in range(2):
        with pytest.raises(DatabaseError):
            queued.run_once(None)
    assert source.abandoned[-1] == {("t", 0): None}  # back to the stored position
    assert numbers(store) == []
    wait_until(lambda: queued.run_once(None) is not None and len(numbers(store)) == 10, 10)
    assert numbers(store) == list(range(10))


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_an_unreachable_source_is_retried_with_backoff_and_said_once(store, caplog):
    log = MemoryLog({"t": 1})
    log.append("t", 0, body(0))
    log.reachable = False
    queued = QueueConsumer(store, settings(), MemorySource(log), queued_id="test:memory")
    caplog.set_level(logging.INFO, "jobu.queued")
    delays = [queued.run_once(None) for _ in range(4)]
    assert all(delay > 0 for delay in delays) and delays == sorted(delays), delays
    assert "Kafka brokers unavailable" in queued.status()
    log.reachable = True
    wait_until(lambda: queued.run_once(None) is not None and numbers(store) == [0], 10)
    said = [r.getMessage() for r in caplog.records if r.name == "jobu.queued"]
    assert sum("unavailable" in line for line in said) == 1, said
    assert sum("available again" in line for line in said) == 1, said


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_a_restart_resumes_from_the_stored_positions_and_status_shows_the_lag(store):
    log = MemoryLog({"t": 2})
    for n in range(40):
        log.append("t", n % 2, body(n))
    first = QueueConsumer(store, settings(max_batch=5), MemorySource(log),
                          queued_id="test:first")
    first.run_once(None)
    first.run_once(None)
    assert len(numbers(store)) == 10  # all from t[0]: t[1] has no position yet, no lag shown
    assert "; lag 10 (t[0] 10);" in first.status() + ";"
    first.shutdown(threading.Event())
    second_source = MemorySource(log)
    second = QueueConsumer(store, settings(), second_source, queued_id="test:second")
    wait_until(lambda: second.run_once(None) is not None and len(numbers(store)) == 40, 10)
    assert numbers(store) == list(range(40))
    assert "lag 0 (t[0] 0, t[1] 0)" in second.status()
    second.shutdown(threading.Event())
