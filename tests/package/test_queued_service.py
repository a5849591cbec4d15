"""jobu-queued.service, installed: with queue.yaml enabled and a broker to read, the messages
that `jobu queue send` produces become executions the worker runs; a bad message becomes a dead
letter; the unit's status says how it goes, and stop is clean.

The broker is the suite's Kafka-protocol test broker (tests/support/kafka.py) on the host's
loopback, which the container shares. In the container jobu talks to it with the release's own
python3-kafka."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import yaml

from tests.package.conftest import Container, wait_until
from tests.support import kafka as kafka_support

kafka_broker = kafka_support.kafka_broker  # the session's broker fixture
UNIT = "jobu-queued.service"


@pytest.fixture
def queued(services_up: Container, config, kafka_broker) -> Iterator[tuple[Container, str]]:
    """jobu-queued enabled as an administrator does it: a topic of its own in queue.yaml."""
    ct = services_up
    topic = kafka_broker.create_topic(2, prefix="jobu-e2e")
    settings = yaml.safe_load(ct.out(["cat", "/etc/jobu/queue.yaml"]))
    settings.update(enabled=True, poll_timeout_ms=200, topics={topic: {"handler": "noop"}})
    settings["kafka"].update(bootstrap_servers=[kafka_broker.bootstrap], group_id=topic)
    config.write("/etc/jobu/queue.yaml", yaml.safe_dump(settings))
    ct.start(UNIT)
    try:
        yield ct, topic
    finally:
        ct.run(["systemctl", "stop", UNIT], check=False, timeout=100)


def test_messages_sent_become_executions_that_run(queued) -> None:
    ct, topic = queued
    assert ct.unit_state(UNIT) == "active/running", ct.why(UNIT)
    before = {item["id"] for item in
              ct.jobu_json("jobs", "list", "--source", "event", "--limit", "1000")["items"]}
    ct.run(["jobu", "queue", "send", topic, "--params", '{"via": "e2e"}', "--count", "5"])

    def new_ones() -> list[dict]:
        items = ct.jobu_json("jobs", "list", "--source", "event", "--limit", "1000")["items"]
        return [item for item in items if item["id"] not in before]

    wait_until(lambda: len(new_ones()) == 5, 30, "5 executions from the messages")
    for item in new_ones():
        execution = ct.wait_finished(str(item["id"]))
        assert execution["status"] == "SUCCESS", execution
        assert execution["handler_name"] == "noop" and execution["params"] == {"via": "e2e"}
    # STATUS= is refreshed with the watchdog, every 15 s.
    status = wait_until(lambda: (text := ct.unit_property(UNIT, "StatusText"))
                        and " 5 executions" in text and text, 40,
                        f"{UNIT}'s status counting the executions")
    print(f"{UNIT}: {status}")
    assert "messages/s" in status and "partitions of 1 topics" in status, status


def test_a_bad_message_becomes_a_dead_letter(queued, kafka_broker) -> None:
    ct, topic = queued
    kafka_broker.produce(topic, [b"not json"], partition=0)

    def letters() -> list[dict]:
        return [letter for letter in ct.jobu_json("queue", "dead-letters", "list")
                if letter["topic"] == topic]

    [letter] = wait_until(letters, 30, "the dead letter of a message that is not JSON")
    print(letter)
    assert "JSON" in letter["reason"], letter
    assert ct.unit_state(UNIT) == "active/running", ct.why(UNIT)


def test_stop_is_clean(queued) -> None:
    ct, _ = queued
    since = ct.cursor()
    ct.run(["systemctl", "stop", UNIT], timeout=100)
    journal = ct.journal(UNIT, since=since)
    print(journal)
    assert ct.is_active(UNIT) == "inactive"
    assert not re.search(r"timed out|Killing|Failed with result|code=killed|Traceback", journal)


def test_disabled_in_queue_yaml_it_starts_says_why_and_exits_0(services_up: Container) -> None:
    """As shipped (enabled: false): not a failure, and no restart loop."""
    ct = services_up
    since = ct.cursor()
    ct.run(["systemctl", "start", UNIT], timeout=100)
    wait_until(lambda: ct.unit_state(UNIT) == "inactive/dead", 20, f"{UNIT} exited")
    journal = ct.journal(UNIT, since=since)
    print(journal)
    assert ct.unit_property(UNIT, "Result") == "success", ct.why(UNIT)
    assert "enabled" in journal and "Scheduled restart" not in journal
