"""Benchmark of one /metrics scrape over a large history: what the admin and a daemon's
metrics_bind read from the jobs database each time Prometheus asks.

    .venv/bin/python bench/metrics_bench.py                        # 1,000,000 rows, PostgreSQL
    .venv/bin/python bench/metrics_bench.py --databases sqlite,postgres,mysql --count 200000

For each database of --databases, on a fresh migrated database (bench/benchdb.py), --count
executions are loaded set-based (chunks of 100,000 rows, one INSERT … SELECT each) spread over
the last 30 days: 1% PENDING in three queues, 0.5% RUNNING, 1% FAILED, the rest SUCCESS with
durations of 0-59 s; about 1/8,640 of them end in the last 5 minutes, the metrics' window.
Three daemons are registered. The tables are then analysed (PostgreSQL: VACUUM ANALYZE, as
autovacuum would have), and --scrapes scrapes are timed in-process: the whole of
jobu.metrics' collection (one read transaction of jobu.operations.metrics) and the rendering
of Prometheus' text format. It prints the best, the median and the worst.

Nothing is asserted: the figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

from benchdb import fresh_database
from prometheus_client import generate_latest

from jobu.config import load_config
from jobu.metrics import build_registry
from jobu.model import WorkerInfo
from jobu.store import Store, open_store

CHUNK = 100_000
#: Seconds of history per row: --count rows over 30 days.
HISTORY_SECONDS = 30 * 86400

#: Each dialect's clock minus `seconds` (an SQL expression of the row number n), as jobu
#: stores times.
AGO = {
    "postgres": "now() - make_interval(secs => {seconds})",
    "mysql": "UTC_TIMESTAMP(6) - INTERVAL ROUND(({seconds}) * 1000000) MICROSECOND",
    "sqlite": "(strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || ({seconds}) || ' seconds') || '000')",
}
LATER = {
    "postgres": "{time} + make_interval(secs => {seconds})",
    "mysql": "{time} + INTERVAL ({seconds}) SECOND",
    "sqlite": "(strftime('%Y-%m-%d %H:%M:%f', {time}, '+' || ({seconds}) || ' seconds') || '000')",
}


def load_sql(dialect: str, first: int, last: int, count: int) -> str:
    """INSERT … SELECT of rows `first`..`last`: row n is ((count - n) × 30 days / count) old,
    so that, as in a real history, a higher id is a newer execution."""
    step = HISTORY_SECONDS / count
    created = AGO[dialect].format(seconds=f"({count} - n) * {step}")
    ended = LATER[dialect].format(time=created, seconds="n % 60")
    lease = LATER[dialect].format(time=AGO[dialect].format(seconds="0"), seconds="3600")
    kind = "n % 1000"
    status = (f"CASE WHEN {kind} < 10 THEN 'PENDING' WHEN {kind} < 15 THEN 'RUNNING' "
              f"WHEN {kind} < 25 THEN 'FAILED' ELSE 'SUCCESS' END")
    started = f"CASE WHEN {kind} < 10 THEN NULL ELSE {created} END"
    finished = f"CASE WHEN {kind} < 15 THEN NULL ELSE {ended} END"
    lease_expires = f"CASE WHEN {kind} >= 10 AND {kind} < 15 THEN {lease} END"
    queue = ("'q' || (n % 3)" if dialect != "mysql" else "CONCAT('q', n % 3)")
    numbers = (f"generate_series({first}, {last}) AS g(n)" if dialect == "postgres" else "g")
    prefix = ("" if dialect == "postgres" else
              f"WITH RECURSIVE g(n) AS (SELECT {first} UNION ALL SELECT n + 1 FROM g "
              f"WHERE n < {last}) ")
    return (f"INSERT INTO job_executions (handler_name, params, param_source, scheduled_time, "
            f"status, attempt, run_after, queue, started_at, finished_at, lease_expires_at, "
            f"created_at, updated_at) {prefix}"
            f"SELECT 'bench', '{{}}', 'manual', {created}, {status}, 1, {created}, {queue}, "
            f"{started}, {finished}, {lease_expires}, {created}, {created} FROM {numbers}")


def load(store: Store, dialect: str, count: int) -> float:
    """Load `count` rows and register three daemons; the seconds it took."""
    began = time.perf_counter()
    for first in range(1, count + 1, CHUNK):
        last = min(count, first + CHUNK - 1)
        sql = load_sql(dialect, first, last, count)

        def insert(conn, sql=sql):
            if dialect == "mysql":  # MariaDB stops a recursive CTE at 1,000 rows by default
                conn.execute(f"SET SESSION max_recursive_iterations = {CHUNK + 1}")
            conn.execute(sql)
        store.database.run(insert, write=True)
    for ident, kind in (("d1", "dispatcher"), ("w1", "worker"), ("w2", "worker")):
        store.worker_register(WorkerInfo(id=ident, kind=kind, hostname="bench", pid=1))
    analyse(store, dialect)
    return time.perf_counter() - began

def analyse(store: Store, dialect: str) -> None:
    """Bring the planner's statistics of job_executions up to date, as autovacuum (PostgreSQL)
    and InnoDB's persistent statistics (MariaDB) would; SQLite's ANALYZE is run by hand."""
    statement = {"postgres": "VACUUM ANALYZE job_executions",
                 "mysql": "ANALYZE TABLE job_executions", "sqlite": "ANALYZE"}[dialect]
    if dialect == "postgres":  # VACUUM cannot run in a transaction
        import psycopg
        spec = store.database.spec
        with psycopg.connect(host=spec.host, port=spec.port, user=spec.user,
                             password=spec.password, dbname=spec.dbname, autocommit=True,
                             **spec.options) as conn:
            conn.execute(statement)
    else:
        store.database.run(lambda conn: conn.execute(statement), write=True)


def bench(dialect: str, count: int, scrapes: int, folder: Path) -> None:
    with fresh_database(dialect, folder) as (spec, _url):
        store = open_store(spec)
        try:
            store.migrate()
            loaded = load(store, dialect, count)
            registry = build_registry(store, load_config(folder / "no-config"))
            text = generate_latest(registry).decode()  # the first, warming the pool
            times = []
            for _ in range(scrapes):
                began = time.perf_counter()
                generate_latest(registry)
                times.append((time.perf_counter() - began) * 1000)
        finally:
            store.close()
    print(f"{dialect}: {count:,} executions loaded in {loaded:.1f} s; one scrape: best "
          f"{min(times):.1f} ms, median {statistics.median(times):.1f} ms, worst "
          f"{max(times):.1f} ms ({scrapes} scrapes)")
    for line in text.splitlines():
        if line.startswith(("jobu_executions", "jobu_queue_depth", "jobu_recent_runs",
                            "jobu_daemons")):
            print("   ", line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="postgres")
    parser.add_argument("--count", type=int, default=1_000_000, help="executions loaded")
    parser.add_argument("--scrapes", type=int, default=20, help="scrapes timed")
    args = parser.parse_args()
    print(f"{platform.node()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "no-config").mkdir()
        for dialect in args.databases.split(","):
            bench(dialect, args.count, args.scrapes, Path(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
