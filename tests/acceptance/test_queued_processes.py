"""`jobu queued` as real processes against a real broker: partitions shared by two
processes and taken over after SIGKILL, a SIGSTOPped process that lost its leases writes
nothing, SIGTERM exits 0, the whole path to a worker's SUCCESS, and the start-up exits."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from jobu.model import ExecutionFilter, Status
from jobu.store import open_store
from tests.conftest import spec_url
from tests.servers import wait_until
from tests.support import kafka as kafka_support
from tests.support.kafka import KAFKA_SOCKET_LEAK
from tests.support.processes import JOBU, DaemonProcess, daemon_environment

kafka_broker = kafka_support.kafka_broker  # the session's broker fixture

pytestmark = [pytest.mark.acceptance, KAFKA_SOCKET_LEAK]


class QueuedProcess(DaemonProcess):
    command = "queued"


@pytest.fixture
def site(tmp_path, fresh_database):
    spec = fresh_database("sqlite")
    store = open_store(spec)
    store.migrate()
    config_dir, env = daemon_environment(tmp_path, spec_url(spec))
    started: list[DaemonProcess] = []

    class Site:
        def write_queue_yaml(self, **settings) -> None:
            (config_dir / "queue.yaml").write_text(yaml.safe_dump(settings))

        def start(self, command: str = "queued") -> DaemonProcess:
            log_path = tmp_path / f"{command}-{len(started) + 1}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen([str(JOBU), command], stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=subprocess.STDOUT, env=env,
                                           cwd=tmp_path)
            daemon = QueuedProcess(process, log_path)
            started.append(daemon)
            return daemon

        def run(self, *args: str) -> subprocess.CompletedProcess:
            return subprocess.run([str(JOBU), *args], env=env, cwd=tmp_path, text=True,
                                  capture_output=True, timeout=60)

    Site.store, Site.config_dir = store, config_dir
    yield Site()
    for daemon in started:
        if daemon.alive():
            daemon.process.kill()
            daemon.process.wait(10)
    store.close()


def queue_yaml(broker, topic: str, **extra) -> dict:
    return {"enabled": True, "kafka": {"bootstrap_servers": [broker.bootstrap],
                                       "group_id": f"g-{topic}"},
            "topics": {topic: {"handler": "noop"}}, "poll_timeout_ms": 200,
            "lease_seconds": 2, **extra}


def executions(store) -> list:
    return store.execution_list(ExecutionFilter(), limit=100_000).items


def owners(store, group: str) -> dict:
    return {p.partition: p.owner for p in store.queue_partitions(group) if p.leased}


def numbered(start: int, stop: int) -> list[bytes]:
    return [json.dumps({"params": {"n": n}}).encode() for n in range(start, stop)]


def test_disabled_exits_0_saying_why_and_a_bad_file_exits_78(site):
    done = site.run("queued")
    assert done.returncode == 0 and "enabled: false" in done.stderr
    site.write_queue_yaml(enabled=True, topics={"t": {}})
    done = site.run("queued")
    assert done.returncode == 78, done.stderr
    assert "queue.yaml" in done.stderr and "bootstrap_servers" in done.stderr


def test_two_processes_share_partitions_and_one_killed_is_taken_over(site, kafka_broker):
    topic = kafka_broker.create_topic(3)
    group = f"g-{topic}"
    site.write_queue_yaml(**queue_yaml(kafka_broker, topic))
    first, second = site.start(), site.start()
    wait_until(lambda: len(set(owners(site.store, group).values())) == 2
               and len(owners(site.store, group)) == 3, 30,
               message="the two processes to share the 3 partitions")
    kafka_broker.produce(topic, numbered(0, 300))
    wait_until(lambda: len(executions(site.store)) >= 100, 30)
    victim = first if first.pid in {w.pid for w in site.store.worker_list()} else second
    victim.process.kill()
    victim.process.wait(10)
    kafka_broker.produce(topic, numbered(300, 600))
    survivor = second if victim is first else first
    wait_until(lambda: len(executions(site.store)) >= 600, 60,
               message="every message to become an execution")
    wait_until(lambda: len(owners(site.store, group)) == 3, 10)
    rows = executions(site.store)
    assert sorted(r.params["n"] for r in rows) == list(range(600)), "lost or doubled"
    assert sum(p.next_offset or 0 for p in site.store.queue_partitions(group)) == 600
    assert survivor.stop() == 0
    assert "took partitions" in survivor.log


def test_a_paused_process_whose_leases_expired_writes_nothing(site, kafka_broker):
    topic = kafka_broker.create_topic(1)
    group = f"g-{topic}"
    site.write_queue_yaml(**queue_yaml(kafka_broker, topic))
    paused = site.start()
    wait_until(lambda: owners(site.store, group), 30)
    paused.signal(signal.SIGSTOP)
    try:
        wait_until(lambda: not owners(site.store, group), 10, interval=0.1)
        kafka_broker.produce(topic, numbered(0, 50))
        other = site.start()
        wait_until(lambda: len(executions(site.store)) == 50, 30)
    finally:
        paused.signal(signal.SIGCONT)
    kafka_broker.produce(topic, numbered(50, 60))
    wait_until(lambda: len(executions(site.store)) == 60, 30)
    # it finds its lease lost when it renews, or when the fenced write of a batch it
    # fetched after resuming is refused
    wait_until(lambda: "gave up partitions" in paused.log or "lost partitions" in paused.log,
               20, message="the resumed process to find its lease lost")
    assert sorted(r.params["n"] for r in executions(site.store)) == list(range(60))
    assert paused.stop() == 0 and other.stop() == 0


def test_a_message_becomes_an_execution_a_worker_runs(site, kafka_broker):
    topic = kafka_broker.create_topic(1)
    site.write_queue_yaml(**queue_yaml(kafka_broker, topic))
    queued, worker = site.start(), site.start("worker")
    sent = site.run("queue", "send", topic, "--params", '{"hello": "world"}', "--count", "3")
    assert sent.returncode == 0, sent.stderr
    wait_until(lambda: [r for r in executions(site.store) if r.status is Status.SUCCESS]
               .__len__() == 3, 60, message="three SUCCESS executions")
    listed = site.run("jobs", "list", "--source", "event")
    assert listed.returncode == 0 and listed.stdout.count("SUCCESS") == 3, listed.stdout
    assert queued.stop() == 0 and worker.stop() == 0
    assert Path(queued.log_path).exists()
