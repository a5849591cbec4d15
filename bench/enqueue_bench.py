"""Benchmark of `jobu enqueue --count N`, beside a raw multi-row INSERT loop, daemons running.

    .venv/bin/python bench/enqueue_bench.py             # 1,000,000 rows, SQLite and PostgreSQL
    .venv/bin/python bench/enqueue_bench.py --count 200000 --databases sqlite --runs 1

For each database of --databases, --runs times (each run in another order), each
measurement on a fresh migrated database (bench/benchdb.py: a SQLite file, a PostgreSQL
schema or a MariaDB database on the test servers, dropped at the end):

1. **raw**, the ceiling: --count rows of what `jobu enqueue noop` writes, inserted through
   the driver by multi-row `INSERT … VALUES (…), (…) … RETURNING id` statements of 1,000
   rows (18,000 placeholders, under SQLite's 32,766 and PostgreSQL's 65,535), 10,000 rows
   per transaction, as jobu commits them. No jobu code. Beside it, two more loops through
   the driver alone: **raw, jobu's statement** (jobu's `execution_insert_batch`, its 1,000
   rows in one JSON parameter, the same text every time: what jobu's own layers cost
   shows against it) and, on PostgreSQL, **raw COPY** (no ids, no duplicate handling: the
   most the server takes).
2. **jobu**: the real `jobu enqueue noop --count N` process (the venv's executable); its
   wall time, start-up included, with its stdout (one id per line) read and counted.
3. **jobu, daemons running**: the same while a `jobu dispatcher` (--crons crons ticking
   every second) and a `jobu worker` (pool_size 4, draining what is enqueued) run on the
   database. Beside the enqueue's time: the ticks scheduled during the enqueue, how late
   the latest of them became a row (created_at − scheduled_time, both on the database's
   clock), the MISSED rows, and how many executions the worker finished meanwhile.

Nothing is asserted: the figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from benchdb import fresh_database

from jobu.model import CronSpec, DatabaseSpec
from jobu.store import open_store
from jobu.store.queries import load_queries

REPO = Path(__file__).resolve().parents[1]
JOBU = Path(sys.executable).parent / "jobu"
COLUMNS = ("job_id, handler_name, params, param_source, scheduled_time, status, max_retry, "
           "retry_backoff_seconds, timeout_seconds, run_after, priority, queue, isolation, "
           "dedupe_key, error_message, finished_at, created_at, updated_at")
ROWS_PER_STATEMENT = 1000
ROWS_PER_TRANSACTION = 10_000


# --- 1. the raw loop --------------------------------------------------------------------------


def raw_insert(dialect: str, spec: DatabaseSpec, count: int) -> float:
    """Seconds to insert `count` rows by multi-row INSERTs through the driver alone."""
    now = datetime.now(UTC)
    row = (None, "noop", "{}", "manual", now, "PENDING", 0, 10.0, None, now, 0, "default",
           "thread", None, None, None, now, now)
    conn, begin = connect(dialect, spec)
    mark = "?" if dialect == "sqlite" else "%s"
    if dialect == "sqlite":
        text = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        row = tuple(text if isinstance(v, datetime) else v for v in row)
    elif dialect == "mysql":
        row = tuple(v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in row)
    values = "(" + ", ".join([mark] * len(row)) + ")"
    returning = "" if dialect == "mysql" else " RETURNING id"
    statement = (f"INSERT INTO job_executions ({COLUMNS}) VALUES "
                 + ", ".join([values] * ROWS_PER_STATEMENT) + returning)
    params = row * ROWS_PER_STATEMENT
    cursor = conn.cursor()
    started = time.perf_counter()
    for _ in range(count // ROWS_PER_TRANSACTION):
        cursor.execute(begin)
        for _ in range(ROWS_PER_TRANSACTION // ROWS_PER_STATEMENT):
            cursor.execute(statement, params)
            if returning:
                cursor.fetchall()
        cursor.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def raw_statement(dialect: str, spec: DatabaseSpec, count: int) -> float:
    """Seconds to insert `count` rows with jobu's batch statement, through the driver alone."""
    statement = load_queries(dialect)["execution_insert_batch"]
    row = json.dumps([None, "noop", "{}", "manual", None, "PENDING", 0, 10.0, None, None, 0,
                      "default", "thread", None, None, False])
    params = {"rows": "[" + ",".join([row] * ROWS_PER_STATEMENT) + "]", "now": None,
              "marker": None, "first_id": 1}
    conn, begin = connect(dialect, spec)
    cursor = conn.cursor()
    started = time.perf_counter()
    for _ in range(count // ROWS_PER_TRANSACTION):
        cursor.execute(begin)
        for _ in range(ROWS_PER_TRANSACTION // ROWS_PER_STATEMENT):
            cursor.execute(statement, params)
            if dialect == "postgres":
                cursor.fetchall()
            params["first_id"] += ROWS_PER_STATEMENT
        cursor.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def raw_copy(spec: DatabaseSpec, count: int) -> float:
    """Seconds to COPY `count` rows into PostgreSQL, through the driver alone."""
    now = datetime.now(UTC).isoformat()
    line = "\t".join(["\\N", "noop", "{}", "manual", now, "PENDING", "0", "10", "\\N", now, "0",
                      "default", "thread", "\\N", "\\N", "\\N", now, now]) + "\n"
    block = (line * ROWS_PER_TRANSACTION).encode()
    conn, begin = connect("postgres", spec)
    cursor = conn.cursor()
    started = time.perf_counter()
    for _ in range(count // ROWS_PER_TRANSACTION):
        cursor.execute(begin)
        with cursor.copy(f"COPY job_executions ({COLUMNS}) FROM STDIN") as copy:
            copy.write(block)
        cursor.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def connect(dialect: str, spec: DatabaseSpec):
    """A raw driver connection in autocommit mode, and how it begins a write transaction."""
    if dialect == "sqlite":
        conn = sqlite3.connect(spec.path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn, "BEGIN IMMEDIATE"
    if dialect == "postgres":
        import psycopg
        return psycopg.connect(host=spec.host, port=spec.port, user=spec.user,
                               password=spec.password, dbname=spec.dbname, autocommit=True,
                               **spec.options), "BEGIN"
    import pymysql
    return pymysql.connect(host=spec.host, port=spec.port, user=spec.user,
                           password=spec.password, database=spec.dbname, autocommit=True,
                           init_command="SET time_zone = '+00:00'"), "BEGIN"


# --- 2. and 3. the jobu enqueue process, alone and beside the daemons ---------------------------


def environment(folder: Path, url: str) -> dict[str, str]:
    config_dir = folder / "etc"
    if not config_dir.exists():
        shutil.copytree(REPO / "etc" / "jobu", config_dir)
        (config_dir / "dispatcher.yaml").write_text(yaml.safe_dump(
            {"min_cron_interval_seconds": 1, "log_level": "WARNING"}))
        worker = yaml.safe_load((config_dir / "worker.yaml").read_text())
        (config_dir / "worker.yaml").write_text(yaml.safe_dump({**worker, "log_level": "WARNING"}))
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("JOBU_", "NOTIFY_SOCKET", "WATCHDOG_"))}
    env.update(JOBU_CONFIG_DIR=str(config_dir), JOBU_STATE_DIR=str(folder),
               JOBU_DATABASE_URL=url)
    return env


def jobu_enqueue(env: dict[str, str], count: int) -> tuple[float, int]:
    """Seconds `jobu enqueue noop --count N` takes, and the ids it printed."""
    started = time.perf_counter()
    process = subprocess.Popen([str(JOBU), "enqueue", "noop", "--count", str(count)], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    printed = sum(chunk.count(b"\n") for chunk in iter(lambda: process.stdout.read(1 << 16), b""))
    if process.wait() != 0:
        raise RuntimeError(f"jobu enqueue exited {process.returncode}")
    return time.perf_counter() - started, printed


def query(store, sql: str, params: dict, *, one: bool = False):
    """Run the benchmark's own SQL, written with :name parameters, on any dialect."""
    if store.dialect != "sqlite":
        for name in params:
            sql = sql.replace(f":{name}", f"%({name})s")
    return store.database.run(lambda c: (c.fetch_value if one else c.fetch_all)(sql, params),
                              write=False)


def fresh_store(spec: DatabaseSpec) -> None:
    store = open_store(spec)
    store.migrate()
    store.close()


def with_daemons(spec: DatabaseSpec, url: str, folder: Path, count: int,
                 crons: int) -> dict[str, float]:
    """The enqueue while a dispatcher and a worker run on the same database."""
    store = open_store(spec)
    for n in range(crons):
        store.cron_create(CronSpec(name=f"tick-{n}", schedule="* * * * * *", handler_name="noop",
                                   allow_overlap=True, queue="ticks"))
    env = environment(folder, url)
    daemons = [subprocess.Popen([str(JOBU), name], env=env, stdin=subprocess.DEVNULL)
               for name in ("dispatcher", "worker")]
    try:
        time.sleep(3)  # both up, and the dispatcher ticking (a benchmark, not a test)
        begin = store.database_now()
        seconds, printed = jobu_enqueue(env, count)
        end = store.database_now()
        time.sleep(2)  # the ticks of the last second
        alive = [d.poll() is None for d in daemons]
    finally:
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
        for daemon in daemons:
            daemon.wait(60)
    window = {"begin": begin, "end": end}
    ticks = query(store, "SELECT status, scheduled_time, created_at FROM job_executions "
                  "WHERE job_id IS NOT NULL AND scheduled_time BETWEEN :begin AND :end", window)
    finished = query(store, "SELECT COUNT(*) FROM job_executions WHERE param_source = 'manual' "
                     "AND finished_at BETWEEN :begin AND :end", window, one=True)
    parse = store.database.dialect.parse_time
    late = sorted((parse(r["created_at"]) - parse(r["scheduled_time"])).total_seconds() * 1000
                  for r in ticks) or [float("nan")]
    store.close()
    return {"seconds": seconds, "printed": printed, "daemons_alive": all(alive),
            "ticks": len(ticks), "expected_ticks": crons * int((end - begin).total_seconds()),
            "late_max_ms": late[-1], "late_p99_ms": late[round(0.99 * (len(late) - 1))],
            "missed": sum(1 for r in ticks if r["status"] == "MISSED"),
            "worker_finished": int(finished)}


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.1f} s"
    return (f"best {min(values):.1f} s, median {statistics.median(values):.1f} s, "
            f"worst {max(values):.1f} s")


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--count", type=int, default=1_000_000,
                        help="rows per enqueue, a multiple of 10,000 (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=2, help="times each is measured")
    parser.add_argument("--crons", type=int, default=5,
                        help="crons ticking every second beside the enqueue with daemons")
    parser.add_argument("--no-daemons", action="store_true", help="skip measurement 3")
    args = parser.parse_args()
    count = args.count - args.count % ROWS_PER_TRANSACTION
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {count:,} rows", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for dialect in args.databases.split(","):
            times: dict[str, list[float]] = {}
            loops = {"raw": raw_insert, "raw, jobu's statement": raw_statement,
                     "jobu enqueue": lambda _, spec, count, url: jobu_enqueue(
                         environment(folder, url), count)}
            if dialect == "postgres":
                loops["raw COPY"] = lambda _, spec, count: raw_copy(spec, count)
            for run in range(args.runs):
                # Each run in another order: a server's checkpoints and vacuums after the
                # loops before should not always fall on the same one.
                order = list(loops)
                order = order[run % len(order):] + order[:run % len(order)]
                for label in order:
                    with fresh_database(dialect, folder) as (spec, url):
                        fresh_store(spec)
                        if label == "jobu enqueue":
                            seconds, printed = loops[label](dialect, spec, count, url)
                            assert printed == count, f"{printed} ids printed, {count} expected"
                        else:
                            seconds = loops[label](dialect, spec, count)
                    times.setdefault(label, []).append(seconds)
                print(f"{dialect} run {run + 1}: " + ", ".join(
                    f"{label} {times[label][-1]:.1f} s ({count / times[label][-1]:,.0f} rows/s)"
                    for label in loops) + "; jobu at "
                    f"{times['raw'][-1] / times['jobu enqueue'][-1]:.2f} of the raw loop's speed",
                    flush=True)
            print(f"{dialect}: " + "; ".join(f"{label} {spread(times[label])}" for label in loops),
                  flush=True)
            if args.no_daemons:
                continue
            with fresh_database(dialect, folder) as (spec, url):
                fresh_store(spec)
                shown = with_daemons(spec, url, folder, count, args.crons)
            print(f"{dialect}, dispatcher and worker running: jobu enqueue "
                  f"{shown['seconds']:.1f} s; {shown['ticks']} ticks of "
                  f"~{shown['expected_ticks']} became rows, the latest "
                  f"{shown['late_max_ms']:.0f} ms after its time (p99 "
                  f"{shown['late_p99_ms']:.0f} ms), {shown['missed']} MISSED; the worker "
                  f"finished {shown['worker_finished']:,} executions meanwhile; daemons still "
                  f"running: {shown['daemons_alive']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
