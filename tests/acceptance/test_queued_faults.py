"""`jobu queued` processes under faults: the brokers cut away (a TCP proxy in front of the
broker), the database cut away (a TCP proxy in front of PostgreSQL), and the chaos soak of
issue 12 (10,000 messages, 2 processes, one SIGKILLed and restarted every few seconds) on
every database. Each ends with every message an execution exactly once and the stored
positions just past the last message written."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from jobu.store import Store
from tests.conftest import spec_url
from tests.servers import wait_until
from tests.support import kafka as kafka_support
from tests.support.kafka import KAFKA_SOCKET_LEAK
from tests.support.processes import JOBU, DaemonProcess, daemon_environment
from tests.support.proxy import TcpProxy

kafka_broker = kafka_support.kafka_broker  # the session's broker fixture
proxied_kafka_broker = kafka_support.proxied_kafka_broker

pytestmark = [pytest.mark.acceptance, pytest.mark.slow, KAFKA_SOCKET_LEAK]

BROKERS_AWAY = "Kafka brokers unavailable"
BROKERS_BACK = "Kafka brokers available again"


class QueuedProcess(DaemonProcess):
    command = "queued"


class QueuedSite:
    """A configuration directory for `jobu queued` processes on one database."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.tmp_path = tmp_path
        self.config_dir, self.env = daemon_environment(tmp_path, database_url)
        self.processes: list[QueuedProcess] = []

    def write_queue_yaml(self, bootstrap: str, topic: str, **extra) -> None:
        settings = {"enabled": True,
                    "kafka": {"bootstrap_servers": [bootstrap], "group_id": f"g-{topic}"},
                    "topics": {topic: {"handler": "noop"}}, "poll_timeout_ms": 200,
                    "lease_seconds": 2, **extra}
        (self.config_dir / "queue.yaml").write_text(yaml.safe_dump(settings))

    def tune_database(self, **settings) -> None:
        path = self.config_dir / "database.yaml"
        values = yaml.safe_load(path.read_text())
        values["databases"]["default"].update(settings)
        path.write_text(yaml.safe_dump(values))

    def start(self, env: dict[str, str] | None = None) -> QueuedProcess:
        log_path = self.tmp_path / f"queued-{len(self.processes) + 1}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([str(JOBU), "queued"], stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT,
                                       env={**self.env, **(env or {})}, cwd=self.tmp_path)
        daemon = QueuedProcess(process, log_path)
        self.processes.append(daemon)
        return daemon

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {p.log_path.name} (pid {p.pid}, exit {p.process.poll()})\n"
                         f"{p.log[-tail:]}" for p in self.processes)

    def kill_all(self) -> None:
        for daemon in self.processes:
            if daemon.alive():
                daemon.process.kill()
                daemon.process.wait(10)


@pytest.fixture
def site(tmp_path, db_spec, store):
    made = QueuedSite(tmp_path, spec_url(db_spec))
    yield made
    made.kill_all()


def count_executions(store: Store) -> int:
    return int(store.database.run(lambda conn: conn.fetch_value(
        "SELECT count(*) FROM job_executions"), write=False))


def dedupe_keys(store: Store) -> list[str]:
    return [row["dedupe_key"] for row in store.database.run(lambda conn: conn.fetch_all(
        "SELECT dedupe_key FROM job_executions"), write=False)]


def numbered(start: int, stop: int) -> list[bytes]:
    return [json.dumps({"params": {"n": n}}).encode() for n in range(start, stop)]


def assert_exactly_once(store: Store, group: str, total: int) -> None:
    """`total` executions, one per message, and each position just past its partition's
    last message written."""
    keys = dedupe_keys(store)
    doubled = [key for key, seen in Counter(keys).items() if seen > 1]
    assert not doubled, f"written twice: {doubled[:10]}"
    assert len(keys) == total, f"{len(keys)} executions for {total} messages"
    per_partition = Counter(int(key.split("/")[1]) for key in keys)
    offsets: dict[int, set[int]] = {}
    for key in keys:
        _, partition, offset = key.rsplit("/", 2)
        offsets.setdefault(int(partition), set()).add(int(offset))
    positions = {p.partition: p.next_offset for p in store.queue_partitions(group)}
    for partition, seen in offsets.items():
        assert seen == set(range(per_partition[partition])), f"gap in partition {partition}"
        assert positions[partition] == per_partition[partition], (positions, per_partition)


def send(producer, topic: str, values: list[bytes]) -> None:
    futures = [producer.send(topic, value=value) for value in values]
    producer.flush(30)
    for future in futures:
        future.get(30)


# --- the brokers going away -----------------------------------------------------------------

@pytest.mark.parametrize("dialect", ["sqlite"])
def test_brokers_cut_away_and_back_the_daemon_says_so_once_and_loses_nothing(
        site, store, proxied_kafka_broker):
    broker, proxy = proxied_kafka_broker
    topic = broker.create_topic(3)
    producer = broker.producer(linger_ms=5)
    try:
        send(producer, topic, numbered(0, 30))
        assert proxy.spare_open() >= 1  # the test's producer outlives the cut
        site.write_queue_yaml(f"127.0.0.1:{proxy.port}", topic)
        queued = site.start()
        wait_until(lambda: count_executions(store) == 30, 30, message=site.logs())

        proxy.cut()
        wait_until(lambda: BROKERS_AWAY in queued.log, 30,
                   message=f"the outage to be noticed\n{site.logs()}")
        send(producer, topic, numbered(30, 130))  # produced while jobu-queued is cut off
        refused = proxy.refused
        wait_until(lambda: proxy.refused >= refused + 2, 30,
                   message="jobu-queued to keep trying the brokers")
        assert queued.alive(), site.logs()
        assert count_executions(store) == 30

        proxy.restore()
        wait_until(lambda: count_executions(store) == 130, 60,
                   message=f"what was produced meanwhile\n{site.logs()}")
        wait_until(lambda: BROKERS_BACK in queued.log, 10, message=site.logs())
        send(producer, topic, numbered(130, 160))
        wait_until(lambda: count_executions(store) == 160, 30, message=site.logs())
    finally:
        producer.close(10)
    assert queued.stop() == 0
    assert queued.log.count(BROKERS_AWAY) == 1, queued.log  # one line per change, not per poll
    assert queued.log.count(BROKERS_BACK) == 1, queued.log
    assert "Traceback" not in queued.log
    assert_exactly_once(store, f"g-{topic}", 160)


# --- the database going away ----------------------------------------------------------------

@pytest.mark.parametrize("dialect", ["postgres"])
def test_database_cut_away_fetching_stops_and_resumes_from_the_stored_positions(
        site, store, db_spec, kafka_broker):
    topic = kafka_broker.create_topic(3)
    site.write_queue_yaml(kafka_broker.bootstrap, topic)
    site.tune_database(pool_timeout_seconds=2, connect_timeout_seconds=1)
    proxy = TcpProxy(db_spec.host, db_spec.port).start()
    try:
        through_proxy = spec_url(replace(db_spec, host=proxy.host, port=proxy.port))
        queued = site.start(env={"JOBU_DATABASE_URL": through_proxy})
        kafka_broker.produce(topic, numbered(0, 50))
        wait_until(lambda: count_executions(store) == 50, 30, message=site.logs())

        proxy.cut()
        kafka_broker.produce(topic, numbered(50, 150))
        wait_until(lambda: "database unavailable" in queued.log, 30, message=site.logs())
        refused = proxy.refused
        wait_until(lambda: proxy.refused >= refused + 2, 30,
                   message="jobu-queued to keep trying the database")
        assert queued.alive(), site.logs()
        assert count_executions(store) == 50
        assert sum(p.next_offset or 0 for p in store.queue_partitions(f"g-{topic}")) == 50

        proxy.restore()
        wait_until(lambda: count_executions(store) == 150, 60,
                   message=f"the messages of the outage\n{site.logs()}")
        assert queued.stop() == 0
    finally:
        proxy.close()
    assert "database available again" in queued.log
    assert queued.log.count("database unavailable") == 1, queued.log
    assert "Traceback" not in queued.log
    assert_exactly_once(store, f"g-{topic}", 150)


# --- the chaos soak ---------------------------------------------------------------------------

SOAK_MESSAGES = 10_000
SOAK_KILLS = 6


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql"])
def test_soak_10000_messages_two_processes_one_sigkilled_every_few_seconds(
        site, store, kafka_broker):
    topic = kafka_broker.create_topic(3)
    group = f"g-{topic}"
    site.write_queue_yaml(kafka_broker.bootstrap, topic, max_batch=500)
    producing = threading.Thread(target=_produce_steadily, name="soak-producer",
                                 args=(kafka_broker, topic, SOAK_MESSAGES, 12.0), daemon=True)
    running = [site.start(), site.start()]
    producing.start()
    chance = random.Random(12)
    kills = holders_killed = 0
    deadline = time.monotonic() + 50
    while kills < SOAK_KILLS and count_executions(store) < SOAK_MESSAGES:
        assert time.monotonic() < deadline, f"soak too slow\n{site.logs()}"
        mark = (kills + 1) * SOAK_MESSAGES // (SOAK_KILLS + 2)
        wait_until(lambda: count_executions(store) >= mark, 30,  # noqa: B023 - used at once
                   message=site.logs())
        victim = running.pop(chance.randrange(2))
        holders = {p.owner for p in store.queue_partitions(group) if p.leased}
        holders_killed += any(f":{victim.pid}:" in (owner or "") for owner in holders)
        victim.process.kill()
        victim.process.wait(10)
        kills += 1
        running.append(site.start())
    producing.join(60)
    assert not producing.is_alive(), "the producer did not finish"
    wait_until(lambda: count_executions(store) >= SOAK_MESSAGES, 60,
               message=f"every message to become an execution\n{site.logs()}")
    for daemon in running:
        assert daemon.stop() == 0, site.logs()
    assert kills == SOAK_KILLS and holders_killed >= 2, \
        f"{kills} kills, {holders_killed} of a partition holder: too few to prove anything"
    assert_exactly_once(store, group, SOAK_MESSAGES)


def _produce_steadily(broker, topic: str, total: int, seconds: float) -> None:
    """Send `total` numbered messages spread over about `seconds`."""
    producer = broker.producer(linger_ms=20)
    try:
        chunk = 250
        pause = seconds / (total / chunk)
        for start in range(0, total, chunk):
            send(producer, topic, numbered(start, min(total, start + chunk)))
            time.sleep(pause)  # pacing the producer, not waiting for a condition
    finally:
        producer.close(10)
