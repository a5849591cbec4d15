"""jobu-queued against issue 12's targets: messages per second into execution rows, and
produce-to-row latency, each beside what a bare kafka-python consumer does in the same run.

    .venv/bin/python bench/queued_bench.py                          # all databases, ~2 minutes
    .venv/bin/python bench/queued_bench.py --databases postgres --count 20000

A Tansu broker (the tests' broker, tests/support/kafka.py) runs on a free loopback port. For
each database, on a fresh one:

* **throughput**: `--count` messages (3 partitions) are produced first; then ONE real
  `jobu queued` process consumes them. The rate is rows / (last row's created_at − first
  row's), so the process's start-up is left out. The **ceiling** is a bare kafka-python
  consumer loop (assign, seek to the beginning, poll 500 at a time, json.loads each value) over
  the same messages, run just before: what the client and the broker allow at all.
* **latency**: a `jobu queued` process runs while messages are produced at `--rate` per
  second for `--seconds`; each carries its send time, and its latency is the row's
  created_at (the database's clock, same machine) minus that. Beside it, the **broker's own
  delay**: the same produce rate read by a bare consumer, send to receive, with jobu-queued's
  fetch_max_wait_ms (jobu.queued.kafka.FETCH_MAX_WAIT_MS) and with kafka-python's default
  (500 ms): the part of the latency that is the broker's long poll, not jobu's.

Targets (issue 12): ≥ 5,000 messages/s on PostgreSQL and SQLite, ≥ 2,000/s on MariaDB;
latency p50 ≤ 50 ms at 100 messages/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from benchdb import fresh_database

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jobu.queued.kafka import FETCH_MAX_WAIT_MS  # noqa: E402
from jobu.store import Store, open_store  # noqa: E402
from tests.support.kafka import KafkaBroker, broker_binary, free_port  # noqa: E402

JOBU = Path(sys.executable).parent / "jobu"
ETC = REPO / "etc" / "jobu"
NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MariaDB"}
RATE_TARGET = {"sqlite": 5000, "postgres": 5000, "mysql": 2000}
LATENCY_TARGET_MS = 50.0


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def produce(broker: KafkaBroker, topic: str, count: int) -> None:
    producer = broker.producer(linger_ms=20, batch_size=256 * 1024)
    try:
        for n in range(count):
            producer.send(topic, value=json.dumps({"params": {"n": n}}).encode())
        producer.flush(120)
    finally:
        producer.close(10)


def bare_consumer_rate(broker: KafkaBroker, topic: str, count: int) -> float:
    """Messages per second a bare kafka-python loop reads (and json-decodes)."""
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    seen, started = 0, time.perf_counter()
    try:
        while seen < count:
            for records in consumer.poll(timeout_ms=1000, max_records=500).values():
                for record in records:
                    json.loads(record.value)
                seen += len(records)
        return seen / (time.perf_counter() - started)
    finally:
        consumer.close(autocommit=False)


def bare_consumer_latency(broker: KafkaBroker, topic: str, rate: float,
                          seconds: float, fetch_max_wait_ms: int) -> list[float]:
    """Send-to-receive latencies (ms) of a bare consumer at `rate` messages per second."""
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                             fetch_max_wait_ms=fetch_max_wait_ms)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for partition in partitions:
        consumer.position(partition)
    latencies: list[float] = []
    sender = threading.Thread(target=paced_producer, args=(broker, topic, rate, seconds))
    sender.start()
    deadline = time.time() + seconds + 5
    try:
        while time.time() < deadline and (sender.is_alive() or
                                          len(latencies) < int(rate * seconds)):
            for records in consumer.poll(timeout_ms=1000, max_records=500).values():
                now = time.time()
                latencies += [(now - json.loads(r.value)["params"]["sent"]) * 1000
                              for r in records]
    finally:
        sender.join()
        consumer.close(autocommit=False)
    return latencies


def paced_producer(broker: KafkaBroker, topic: str, rate: float, seconds: float) -> None:
    """`rate` messages per second for `seconds`, each with its send time (time.time())."""
    producer = broker.producer(linger_ms=0)
    try:
        start = time.monotonic()
        for n in range(int(rate * seconds)):
            wait = start + n / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            producer.send(topic, value=json.dumps(
                {"params": {"n": n, "sent": time.time()}}).encode())
        producer.flush(30)
    finally:
        producer.close(10)


class Queued:
    """One real `jobu queued` process on a database."""

    def __init__(self, folder: Path, url: str, broker: KafkaBroker, topic: str) -> None:
        config = folder / "etc"
        config.mkdir(exist_ok=True)
        for shipped in ETC.glob("*.yaml"):
            (config / shipped.name).write_text(shipped.read_text())
        (config / "queue.yaml").write_text(yaml.safe_dump({
            "enabled": True, "kafka": {"bootstrap_servers": [broker.bootstrap],
                                       "group_id": f"g-{topic}"},
            "topics": {topic: {"handler": "noop"}}, "log_level": "WARNING"}))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JOBU_", "NOTIFY_SOCKET", "WATCHDOG_"))}
        env.update(JOBU_CONFIG_DIR=str(config), JOBU_STATE_DIR=str(folder),
                   JOBU_DATABASE_URL=url)
        self.log = folder / f"queued-{topic}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen([str(JOBU), "queued"], stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=subprocess.STDOUT, env=env)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def count_rows(store: Store) -> int:
    return int(store.database.run(lambda c: c.fetch_value(
        "SELECT count(*) FROM job_executions"), write=False))


def created_span_seconds(store: Store) -> float:
    row = store.database.run(lambda c: c.fetch_one(
        "SELECT min(created_at) AS first, max(created_at) AS last FROM job_executions"),
        write=False)
    first, last = (store._time(row["first"]), store._time(row["last"]))
    return (last - first).total_seconds()


def rows_latency_ms(store: Store) -> list[float]:
    rows = store.database.run(lambda c: c.fetch_all(
        "SELECT params, created_at FROM job_executions"), write=False)
    found = []
    for row in rows:
        params = row["params"] if isinstance(row["params"], dict) else json.loads(row["params"])
        created = store._time(row["created_at"]).replace(tzinfo=UTC)
        found.append((created.timestamp() - params["sent"]) * 1000)
    return found


def wait_rows(store: Store, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while count_rows(store) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {count_rows(store)} of {count} rows after {timeout} s")
        time.sleep(0.2)  # a benchmark's sampling interval


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_database(dialect: str, broker: KafkaBroker, folder: Path, args) -> dict:
    result: dict = {"database": NAMES[dialect]}
    with fresh_database(dialect, folder) as (spec, url):
        store = open_store(spec)
        store.migrate()
        try:
            topic = broker.create_topic(3, prefix="bench")
            produce(broker, topic, args.count)
            result["ceiling"] = bare_consumer_rate(broker, topic, args.count)
            progress(f"{dialect}: bare consumer {result['ceiling']:.0f}/s")
            queued = Queued(folder, url, broker, topic)
            try:
                wait_rows(store, args.count, 300)
            finally:
                queued.stop()
            result["rate"] = args.count / created_span_seconds(store)
            progress(f"{dialect}: jobu queued {result['rate']:.0f} rows/s")
        finally:
            store.close()
    with fresh_database(dialect, folder) as (spec, url):
        store = open_store(spec)
        store.migrate()
        try:
            topic = broker.create_topic(3, prefix="bench-latency")
            queued = Queued(folder, url, broker, topic)
            try:
                deadline = time.monotonic() + 60
                while sum(p.leased for p in store.queue_partitions(f"g-{topic}")) < 3:
                    if queued.process.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"jobu queued did not take its partitions; see "
                                         f"{queued.log}")
                    time.sleep(0.1)  # a benchmark's sampling interval
                paced_producer(broker, topic, args.rate, args.seconds)
                wait_rows(store, int(args.rate * args.seconds), 60)
            finally:
                queued.stop()
            latencies = rows_latency_ms(store)
            result["latency_p50"] = percentile(latencies, 0.5)
            result["latency_p99"] = percentile(latencies, 0.99)
            progress(f"{dialect}: latency p50 {result['latency_p50']:.1f} ms")
        finally:
            store.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres,mysql")
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    import kafka
    with tempfile.TemporaryDirectory(prefix="queued-bench-") as tmp:
        folder = Path(tmp)
        binary = broker_binary(REPO / ".pytest_cache" / "d" / "kafka-broker")
        broker = KafkaBroker(binary, free_port(), folder / "broker.log")
        broker.start()
        try:
            load = os.getloadavg()
            delays = {wait: bare_consumer_latency(broker, broker.create_topic(3, prefix="bd"),
                                                  args.rate, args.seconds, wait)
                      for wait in (FETCH_MAX_WAIT_MS, 500)}
            results = [bench_database(d, broker, folder, args)
                       for d in args.databases.split(",")]
        finally:
            broker.stop()
    print(f"\njobu-queued bench, {datetime.now():%Y-%m-%d %H:%M}, kafka-python "
          f"{kafka.__version__}, {os.cpu_count()} cores, load average before "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    for wait, found in delays.items():
        print(f"broker's own delay (bare consumer, {args.rate:.0f} msg/s, fetch_max_wait_ms "
              f"{wait}): p50 {percentile(found, 0.5):.1f} ms, "
              f"p99 {percentile(found, 0.99):.1f} ms")
    print(f"{'database':<11} {'rows/s':>8} {'target':>7} {'ceiling':>8}   "
          f"{'p50 ms':>7} {'p99 ms':>7} {'target':>7}")
    for r in results:
        print(f"{r['database']:<11} {r['rate']:>8.0f} "
              f"{RATE_TARGET[[k for k, v in NAMES.items() if v == r['database']][0]]:>7} "
              f"{r['ceiling']:>8.0f}   {r['latency_p50']:>7.1f} {r['latency_p99']:>7.1f} "
              f"{LATENCY_TARGET_MS:>7.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
