"""jobu-queued against a real Kafka-protocol broker (tests/support/kafka.py) and each
database: messages become executions exactly once, positions survive a restart, bad
messages become dead letters without blocking their partition, and a process that lost a
partition's lease writes nothing for it."""

from __future__ import annotations

import json
import threading
import time

import pytest

from jobu.config import KafkaConfig, QueueConfig, TopicConfig
from jobu.errors import InvalidStateError
from jobu.model import ExecutionFilter, ParamSource
from jobu.operations import dead_letters
from jobu.queued.consumer import QueueConsumer
from jobu.queued.kafka import KafkaSource
from tests.servers import wait_until
from tests.support import kafka as kafka_support
from tests.support.kafka import KAFKA_SOCKET_LEAK

pytestmark = KAFKA_SOCKET_LEAK

kafka_broker = kafka_support.kafka_broker  # the session's broker fixture



def settings(broker, topic: str, **topic_settings) -> QueueConfig:
    topic_config = TopicConfig(**{"handler": "noop", **topic_settings})
    return QueueConfig(enabled=True, kafka=KafkaConfig(bootstrap_servers=(broker.bootstrap,),
                                                      group_id=f"g-{topic}"),
                       topics={topic: topic_config}, poll_timeout_ms=200, max_batch=200,
                       lease_seconds=3)


def consumer(store, config: QueueConfig, name: str = "a") -> QueueConsumer:
    return QueueConsumer(store, config, KafkaSource(config.kafka), queued_id=f"test:{name}")


def event_rows(store) -> list:
    return store.execution_list(ExecutionFilter(), limit=100_000).items


def pump(*consumers, until, timeout: float = 30):
    """Run passes of `consumers` in turn until `until()` is truthy."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "condition not reached"
        for each in consumers:
            each.run_once(None)
    return until()


def message(**body) -> bytes:
    return json.dumps(body).encode()


def test_messages_become_executions_exactly_once_and_resume_after_restart(kafka_broker, store):
    topic = kafka_broker.create_topic(3)
    config = settings(kafka_broker, topic, priority=5, queue="events", max_retry=2)
    kafka_broker.produce(topic, [message(params={"n": i}) for i in range(60)])
    first = consumer(store, config)
    pump(first, until=lambda: len(event_rows(store)) >= 20)
    first.shutdown(threading.Event())
    kafka_broker.produce(topic, [message(params={"n": i}) for i in range(60, 90)])
    second = consumer(store, config, "b")
    pump(second, until=lambda: len(event_rows(store)) >= 90)
    for _ in range(5):  # nothing more arrives, nothing is written twice
        second.run_once(None)
    rows = event_rows(store)
    assert sorted(r.params["n"] for r in rows) == list(range(90))
    assert {(r.param_source, r.priority, r.queue, r.max_retry) for r in rows} == {
        (ParamSource.EVENT, 5, "events", 2)}
    assert all(r.dedupe_key.startswith(f"{topic}/") for r in rows)
    positions = {p.partition: p.next_offset for p in store.queue_partitions(f"g-{topic}")}
    counts = {}
    for r in rows:
        partition = int(r.dedupe_key.split("/")[1])
        counts[partition] = counts.get(partition, 0) + 1
    assert positions == counts  # each position is just past the last message written
    second.shutdown(threading.Event())


@pytest.mark.parametrize("dialect", ["sqlite", "mysql", "postgres"])
def test_every_bad_message_is_a_dead_letter_and_the_partition_moves_on(kafka_broker, store):
    topic = kafka_broker.create_topic(1)
    config = settings(kafka_broker, topic, handler=None, allowed_handlers=("noop",))
    config = QueueConfig(**{**config.__dict__, "max_message_bytes": 200})
    bad = {
        b"not json": "not valid JSON",
        b"\xff\xfe": "not valid JSON",
        b"[1, 2]": "JSON array, not an object",
        message(params={}): "names no handler_name",
        message(handler_name="sleep"): "does not allow",
        message(handler_name=7): "not a string",
        message(handler_name="noop", params=[1]): "params is a JSON array",
        message(handler_name="noop", job_id="x"): "job_id must be a positive integer",
        message(handler_name="noop", job_id=999): "job_id 999 names no cron",
        message(handler_name="noop", params={"x": "y" * 300}): "more than max_message_bytes",
    }
    kafka_broker.produce(topic, list(bad), key=b"k1", headers=[("trace", b"\x00\x01")])
    kafka_broker.produce(topic, [message(handler_name="noop", params={"good": True})])
    queued = consumer(store, config)
    pump(queued, until=lambda: event_rows(store))
    letters = sorted(store.dead_letter_list(limit=100), key=lambda letter: letter.offset)
    assert [letter.raw for letter in letters] == list(bad)
    for letter, reason in zip(letters, bad.values(), strict=True):
        assert reason in letter.reason, (letter.raw, letter.reason)
        assert letter.key == b"k1" and letter.headers == [("trace", b"\x00\x01")]
    [good] = event_rows(store)
    assert good.params == {"good": True} and good.dedupe_key == f"{topic}/0/{len(bad)}"
    assert store.queue_partitions(f"g-{topic}")[0].next_offset == len(bad) + 1

    refused = next(letter for letter in letters if b"sleep" in letter.raw)
    with pytest.raises(InvalidStateError, match="does not allow"):
        dead_letters.replay(store, config, refused.id)
    fixed = settings(kafka_broker, topic, handler=None, allowed_handlers=("noop", "sleep"))
    outcome = dead_letters.replay(store, fixed, refused.id)
    assert store.execution_get(outcome.execution_id).handler_name == "sleep"
    with pytest.raises(Exception, match="no dead letter"):
        dead_letters.replay(store, fixed, refused.id)
    assert len(event_rows(store)) == 2
    dead_letters.discard(store, letters[0].id)
    assert len(store.dead_letter_list()) == len(bad) - 2
    queued.shutdown(threading.Event())


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_a_process_that_lost_its_lease_writes_nothing(kafka_broker, store):
    topic = kafka_broker.create_topic(1)
    config = settings(kafka_broker, topic)
    paused, other = consumer(store, config, "paused"), consumer(store, config, "other")
    kafka_broker.produce(topic, [message(params={"n": 0})])
    pump(paused, until=lambda: event_rows(store))
    kafka_broker.produce(topic, [message(params={"n": i}) for i in range(1, 6)])
    records = wait_until(lambda: paused.source.receive(100, 0.2), 20)
    # `paused` holds these records but stops (as under SIGSTOP) until its lease expires
    wait_until(lambda: not store.queue_partitions(f"g-{topic}")[0].leased, 10, interval=0.1)
    pump(other, until=lambda: len(event_rows(store)) == 6)
    paused._write(records)  # the batch in hand when it resumes
    assert sorted(r.params["n"] for r in event_rows(store)) == list(range(6))
    assert not paused.leases
    assert store.queue_partitions(f"g-{topic}")[0].next_offset == 6
    paused.shutdown(threading.Event())
    other.shutdown(threading.Event())


def test_key_and_headers_are_kept_beside_the_execution_and_a_dedupe_key_header_counts(
        kafka_broker, store):
    topic = kafka_broker.create_topic(1)
    config = settings(kafka_broker, topic)
    kafka_broker.produce(topic, [message(params={"n": 0})], key=b"order-42",
                         headers=[("trace", b"\x00\x01"), ("origin", b"shop")])
    kafka_broker.produce(topic, [message(params={"n": 1})])
    # a producer's retry: the same message twice, one execution
    kafka_broker.produce(topic, [message(params={"n": 2}), message(params={"n": 2})],
                         headers=[("dedupe_key", b"order-43")])
    kafka_broker.produce(topic, [message(params={"n": 3})], headers=[("dedupe_key", b"")])
    kafka_broker.produce(topic, [message(params={"n": 4})])
    queued = consumer(store, config)
    pump(queued, until=lambda: [p.next_offset for p in store.queue_partitions(f"g-{topic}")]
         == [6])
    rows = {r.params["n"]: r for r in event_rows(store)}
    assert sorted(rows) == [0, 1, 2, 4]
    kept = store.queue_message_get(rows[0].id)
    assert (kept.topic, kept.partition, kept.offset) == (topic, 0, 0)
    assert kept.key == b"order-42"
    assert list(kept.headers) == [("trace", b"\x00\x01"), ("origin", b"shop")]
    assert store.queue_message_get(rows[1].id) is None  # no key, no headers: nothing to keep
    assert rows[2].dedupe_key == "order-43"
    assert store.queue_message_get(rows[2].id).headers == (("dedupe_key", b"order-43"),)
    assert store.queue_message_get(rows[2].id).key is None
    [letter] = store.dead_letter_list()
    assert "dedupe_key header is empty" in letter.reason
    assert queued.written == 4
    queued.shutdown(threading.Event())


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql"])
def test_maintenance_prunes_dead_letters_as_old_as_failed_executions(store):
    from datetime import UTC, datetime, timedelta

    from jobu.config import DispatcherConfig
    from jobu.maintenance import Maintenance
    from jobu.store.queue import NewDeadLetter
    now = datetime.now(UTC)

    def letter(offset: int) -> NewDeadLetter:
        return NewDeadLetter("t", 0, offset, None, (), b"x", "bad")
    for offset, age in enumerate((100, 95, 10)):
        store.queue_commit_batch("g", [], [], [letter(offset)], now=now - timedelta(days=age))
    settings_ = DispatcherConfig(prune_batch_size=1)
    tally = Maintenance(store, settings_, database_clock=False).run(now)
    assert tally.dead_letters_pruned == 2
    assert [d.offset for d in store.dead_letter_list()] == [2]
    keep_all = DispatcherConfig(retention_days={"FAILED": 0})
    assert Maintenance(store, keep_all, database_clock=False).run(now).dead_letters_pruned == 0
