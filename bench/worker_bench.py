"""Benchmark of jobu-worker, beside a raw SQL SKIP LOCKED claim loop on the same database.

    .venv/bin/python bench/worker_bench.py                        # all three databases
    .venv/bin/python bench/worker_bench.py --databases postgres --count 2000

For each database (a fresh SQLite file, PostgreSQL schema or MariaDB database on
the test servers: JOBU_BENCH_POSTGRES_URL / JOBU_BENCH_MYSQL_URL, by default the
ones `make test` provisions; dropped at the end):

1. **Throughput**, draining --count no-op executions (inserted beforehand):
   * two raw claim loops in this process, with the claim statement jobu uses
     (UPDATE … SKIP LOCKED; MariaDB: SELECT … FOR UPDATE SKIP LOCKED + UPDATE;
     SQLite: BEGIN IMMEDIATE + UPDATE … RETURNING) and a completion fenced by the
     claim's token, through the driver, no jobu code: N threads each claiming one
     row and completing it (the worker's transactions per job when its pool is
     busy), and one thread claiming N rows and completing them in one UPDATE
     (the database's ceiling for the pattern);
   * one real `jobu worker` process (this venv's executable, the
     built-in ``noop``, log_level WARNING) with pool_size N;
   for N = 4 and 16 (--pools).
   Jobs per second is count / (last finished_at - first started_at), both from
   the database's clock. For the worker also its CPU seconds per 1,000 jobs
   (utime + stime from /proc) and its resident memory at the end.
2. **Latency**: one worker (pool_size 4, the shipped defaults otherwise: polling
   every 1 s, on PostgreSQL woken by LISTEN) while this process inserts one
   execution every 20 ms (50 jobs/s) for --latency-seconds. Latency is each
   row's started_at - created_at (the database's clock): p50, p99, max.
3. **Idle**: the same worker, with nothing to do, for --idle-seconds: its CPU use
   (utime + stime over the window) and resident memory.

Nothing is asserted: the figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from benchdb import fresh_database

from jobu.model import DatabaseSpec, NewExecution
from jobu.store import Store, open_store

REPO = Path(__file__).resolve().parents[1]
JOBU = Path(sys.executable).parent / "jobu"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def fill(store: Store, count: int) -> None:
    for start in range(0, count, 1000):
        store.execution_insert_many([NewExecution("noop") for _ in range(min(1000, count - start))])


def drain_span(store: Store) -> tuple[int, float]:
    """(SUCCESS rows, seconds from the first start to the last finish), database clock."""
    row = store.database.run(lambda conn: conn.fetch_one(
        "SELECT COUNT(*) AS n, MIN(started_at) AS first, MAX(finished_at) AS last "
        "FROM job_executions WHERE status = 'SUCCESS'"), write=False)
    parse = store.database.dialect.parse_time
    return int(row["n"]), (parse(row["last"]) - parse(row["first"])).total_seconds()


def unfinished(store: Store) -> int:
    return int(store.database.run(lambda conn: conn.fetch_value(
        "SELECT COUNT(*) FROM job_executions WHERE status IN ('PENDING', 'RETRY', 'RUNNING')"),
        write=False))


def reset(store: Store) -> None:
    store.database.run(lambda conn: conn.execute("DELETE FROM job_executions"))
    store.database.run(lambda conn: conn.execute("DELETE FROM workers"))


# --- 1a. the raw claim loop -----------------------------------------------------------------


class RawLoop:
    """Claim rows, mark them done, repeat: jobu's statements, the driver's calls, no jobu."""

    def __init__(self, dialect: str, spec: DatabaseSpec) -> None:
        self.dialect = dialect
        self.spec = spec

    def connect(self) -> Any:
        spec = self.spec
        if self.dialect == "sqlite":
            conn = sqlite3.connect(spec.path, isolation_level=None, check_same_thread=False,
                                   timeout=30)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA synchronous = NORMAL")  # as jobu sets it, in WAL mode
            return conn
        if self.dialect == "postgres":
            import psycopg

            from jobu.db.postgres import connect_kwargs  # the keyword arguments only
            return psycopg.connect(**connect_kwargs(spec))
        import pymysql
        conn = pymysql.connect(host=spec.host, port=spec.port, user=spec.user,
                               password=spec.password, database=spec.dbname, autocommit=False)
        with conn.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        return conn

    def claim(self, conn: Any, worker: str, token: str, limit: int) -> list[int]:
        """One claim transaction: jobu's pick (priority, then age) and its SKIP LOCKED."""
        if self.dialect == "sqlite":
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute(
                "UPDATE job_executions SET status = 'RUNNING', worker_id = ?, "
                "attempt = attempt + 1, lease_token = ?, "
                "lease_expires_at = strftime('%Y-%m-%d %H:%M:%f', 'now', '+30 seconds') || '000', "
                "started_at = strftime('%Y-%m-%d %H:%M:%f', 'now') || '000' "
                "WHERE id IN (SELECT id FROM job_executions "
                "WHERE status IN ('PENDING', 'RETRY') AND queue = 'default' "
                "AND run_after <= strftime('%Y-%m-%d %H:%M:%f', 'now') || '000' "
                "ORDER BY priority DESC, run_after, id LIMIT ?) RETURNING id",
                (worker, token, limit)).fetchall()
            conn.execute("COMMIT")
            return [row[0] for row in rows]
        if self.dialect == "postgres":
            rows = conn.execute(
                "WITH picked AS MATERIALIZED (SELECT id FROM job_executions "
                "WHERE status IN ('PENDING', 'RETRY') AND queue = 'default' "
                "AND run_after <= now() ORDER BY priority DESC, run_after, id LIMIT %s "
                "FOR UPDATE SKIP LOCKED) "
                "UPDATE job_executions e SET status = 'RUNNING', worker_id = %s, "
                "attempt = e.attempt + 1, lease_token = %s, "
                "lease_expires_at = now() + interval '30 seconds', started_at = now() "
                "FROM picked WHERE e.id = picked.id RETURNING e.id",
                (limit, worker, token)).fetchall()
            conn.commit()
            return [row[0] for row in rows]
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM job_executions WHERE status IN ('PENDING', 'RETRY') "
                "AND queue = 'default' AND run_after <= UTC_TIMESTAMP(6) "
                "ORDER BY priority DESC, run_after, id LIMIT %s FOR UPDATE SKIP LOCKED",
                (limit,))
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                cursor.execute(
                    "UPDATE job_executions SET status = 'RUNNING', worker_id = %s, "
                    "attempt = attempt + 1, lease_token = %s, "
                    "lease_expires_at = UTC_TIMESTAMP(6) + INTERVAL 30 SECOND, "
                    "started_at = UTC_TIMESTAMP(6) WHERE id IN %s", (worker, token, ids))
        conn.commit()
        return ids

    def complete(self, conn: Any, ids: list[int], token: str) -> None:
        """One transaction marking `ids` SUCCESS, fenced by the claim's token."""
        if self.dialect == "sqlite":
            marks = ", ".join("?" * len(ids))
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "UPDATE job_executions SET status = 'SUCCESS', result = '{}', "
                "finished_at = strftime('%Y-%m-%d %H:%M:%f', 'now') || '000', "
                f"lease_expires_at = NULL WHERE id IN ({marks}) AND lease_token = ? "
                "AND status = 'RUNNING'", (*ids, token))
            conn.execute("COMMIT")
            return
        if self.dialect == "postgres":
            conn.execute(
                "UPDATE job_executions SET status = 'SUCCESS', result = '{}', "
                "finished_at = now(), lease_expires_at = NULL "
                "WHERE id = ANY(%s) AND lease_token = %s AND status = 'RUNNING'", (ids, token))
            conn.commit()
            return
        with conn.cursor() as cursor:
            cursor.execute(
                "UPDATE job_executions SET status = 'SUCCESS', result = '{}', "
                "finished_at = UTC_TIMESTAMP(6), lease_expires_at = NULL "
                "WHERE id IN %s AND lease_token = %s AND status = 'RUNNING'", (ids, token))
        conn.commit()

    def runnable(self, conn: Any) -> int:
        """Rows still to run (a plain read: no lock taken, none waited for)."""
        sql = "SELECT COUNT(*) FROM job_executions WHERE status IN ('PENDING', 'RETRY')"
        if self.dialect == "sqlite":
            return conn.execute(sql).fetchone()[0]
        if self.dialect == "postgres":
            count = conn.execute(sql).fetchone()[0]
            conn.commit()
            return count
        with conn.cursor() as cursor:
            cursor.execute(sql)
            count = cursor.fetchone()[0]
        conn.commit()
        return count

    def drain(self, threads: int, batch: int, complete_each: bool) -> None:
        """`threads` loops, each claiming up to `batch` rows and completing them (one
        transaction per row with `complete_each`, else one for the batch), until none is left."""
        errors: list[BaseException] = []

        def loop(n: int) -> None:
            conn = self.connect()
            try:
                while True:
                    token = secrets.token_hex(16)
                    ids = self.claim(conn, f"raw-{n}", token, batch)
                    if not ids:
                        # An empty claim can mean that another claimer holds the rows (on
                        # MariaDB, every runnable row): stop only once none is left.
                        if self.runnable(conn) == 0:
                            return
                        continue
                    for group in ([i] for i in ids) if complete_each else [ids]:
                        self.complete(conn, group, token)
            except BaseException as error:  # noqa: BLE001 - reported by the main thread
                errors.append(error)
            finally:
                conn.close()

        pool = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        if errors:
            raise errors[0]


# --- 1b, 2, 3. the jobu worker process --------------------------------------------------------


class WorkerProcess:
    """A `jobu worker` subprocess on a configuration directory of its own."""

    def __init__(self, folder: Path, url: str, **settings: Any) -> None:
        self.config_dir = folder / f"etc-{uuid.uuid4().hex[:6]}"
        shutil.copytree(REPO / "etc" / "jobu", self.config_dir)
        (self.config_dir / "worker.yaml").write_text(yaml.safe_dump(
            {"log_level": "WARNING", **settings}))
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("JOBU_", "NOTIFY_SOCKET", "WATCHDOG_"))}
        env.update(JOBU_CONFIG_DIR=str(self.config_dir), JOBU_STATE_DIR=str(folder),
                   JOBU_DATABASE_URL=url)
        self.process = subprocess.Popen([str(JOBU), "worker"], env=env,
                                        stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime

    def rss_mib(self) -> float:
        pages = int(Path(f"/proc/{self.pid}/statm").read_text().split()[1])
        return pages * PAGE_SIZE / 2**20

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def registered(store: Store, worker: WorkerProcess) -> bool:
    if worker.process.poll() is not None:
        raise RuntimeError(f"jobu worker exited {worker.process.returncode}")
    return any(w.pid == worker.pid for w in store.worker_list())


def worker_throughput(store: Store, url: str, folder: Path, count: int,
                      pool_size: int) -> dict[str, float]:
    reset(store)
    fill(store, count)
    worker = WorkerProcess(folder, url, pool_size=pool_size)
    try:
        wait_for(lambda: unfinished(store) == 0, 600, f"{count} executions to finish")
        cpu, rss = worker.cpu_seconds(), worker.rss_mib()
    finally:
        worker.stop()
    done, span = drain_span(store)
    return {"rate": done / span, "cpu_per_1000": cpu / done * 1000, "rss": rss}


def raw_throughput(dialect: str, spec: DatabaseSpec, store: Store, count: int, *,
                   threads: int, batch: int, complete_each: bool) -> float:
    reset(store)
    fill(store, count)
    RawLoop(dialect, spec).drain(threads, batch, complete_each)
    done, span = drain_span(store)
    return done / span


def latency_and_idle(store: Store, url: str, folder: Path, seconds: float,
                     idle_seconds: float) -> dict[str, float]:
    reset(store)
    worker = WorkerProcess(folder, url, pool_size=4)
    try:
        wait_for(lambda: registered(store, worker), 30, "the worker to register")
        time.sleep(1.0)  # let it settle (and, on PostgreSQL, LISTEN) before the stream
        next_at = time.monotonic()
        end = next_at + seconds
        while next_at < end:
            store.execution_insert(NewExecution("noop"))
            next_at += 0.02
            time.sleep(max(0.0, next_at - time.monotonic()))
        wait_for(lambda: unfinished(store) == 0, 60, "the stream to finish")
        rows = store.database.run(lambda conn: conn.fetch_all(
            "SELECT created_at, started_at FROM job_executions"), write=False)
        parse = store.database.dialect.parse_time
        waits = sorted((parse(r["started_at"]) - parse(r["created_at"])).total_seconds() * 1000
                       for r in rows)
        time.sleep(2.0)  # the last jobs' threads end; then nothing to do
        before, started = worker.cpu_seconds(), time.monotonic()
        time.sleep(idle_seconds)  # the measurement window itself: a benchmark, not a test
        idle_cpu = (worker.cpu_seconds() - before) / (time.monotonic() - started)
        rss = worker.rss_mib()
    finally:
        worker.stop()
    return {"jobs": len(waits), "p50": statistics.median(waits),
            "p99": waits[min(len(waits) - 1, round(0.99 * (len(waits) - 1)))],
            "max": waits[-1], "idle_cpu_percent": idle_cpu * 100, "idle_rss": rss}


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgres,mysql")
    parser.add_argument("--count", type=int, default=10_000,
                        help="no-op executions drained per throughput figure")
    parser.add_argument("--pools", default="4,16", help="pool sizes and raw-loop threads")
    parser.add_argument("--latency-seconds", type=float, default=10.0,
                        help="how long the 50 jobs/s stream runs")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    pools = [int(p) for p in args.pools.split(",")]
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} "
          f"cores, Python {platform.python_version()}, {args.count} no-op executions per "
          "throughput figure", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for dialect in args.databases.split(","):
            with fresh_database(dialect, folder, pool_size=20,
                                busy_timeout_seconds=30) as (spec, url):
                store = open_store(spec)
                store.migrate()
                try:
                    for size in pools:
                        each = raw_throughput(dialect, spec, store, args.count, threads=size,
                                              batch=1, complete_each=True)
                        print(f"{dialect}: raw loop, {size} threads claiming 1 row and "
                              f"completing it: {each:.0f} jobs/s", flush=True)
                        batch = raw_throughput(dialect, spec, store, args.count, threads=1,
                                               batch=size, complete_each=False)
                        print(f"{dialect}: raw loop, 1 thread claiming {size} rows and "
                              f"completing them at once: {batch:.0f} jobs/s", flush=True)
                        got = worker_throughput(store, url, folder, args.count, size)
                        print(f"{dialect}: jobu worker, pool_size {size}: {got['rate']:.0f} "
                              f"jobs/s, {got['cpu_per_1000']:.2f} CPU s per 1000 jobs, RSS "
                              f"{got['rss']:.0f} MiB", flush=True)
                    lat = latency_and_idle(store, url, folder, args.latency_seconds,
                                           args.idle_seconds)
                    print(f"{dialect}: enqueue->start at 50 jobs/s over {lat['jobs']} jobs: "
                          f"p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms, max "
                          f"{lat['max']:.1f} ms", flush=True)
                    print(f"{dialect}: idle worker: {lat['idle_cpu_percent']:.2f}% of a CPU, "
                          f"RSS {lat['idle_rss']:.0f} MiB", flush=True)
                finally:
                    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
