"""Benchmark of jobu-dispatcher: how late ticks become rows, and what a pass costs.

    .venv/bin/python bench/dispatcher_bench.py                  # all three databases
    .venv/bin/python bench/dispatcher_bench.py --databases sqlite --seconds 20

1. **Tick lateness.** A real `jobu dispatcher` process (the venv's executable) runs
   for --seconds over --crons crons that tick every second. Lateness is each row's
   created_at (the database's clock, at insert) minus its scheduled_time; the
   p50 / p99 / max are printed per database. --seconds 0 leaves it out.
2. **One pass over many crons.** --pass-crons enabled crons (every minute, every 5,
   10 and 15 minutes, and hourly; half of them without overlap) are loaded, then the
   Dispatcher service is timed, in this process, for three passes on a fake clock:
   the first (every cron unplanned: each schedule computed once), one at the top of
   the hour (every cron due: one tick each, so one row each; also timed to the commit of
   its last batch, when all rows are in), and one a moment later (nothing due: the steady
   state between ticks). --pass-runs N times them N times,
   each on a fresh database, and prints the best, median and worst of each.

Each database is a fresh one: a SQLite file, a PostgreSQL schema or a MariaDB
database on the test servers (JOBU_BENCH_POSTGRES_URL / JOBU_BENCH_MYSQL_URL, by
default the ones `make test` provisions), dropped at the end. Nothing is asserted:
the figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from benchdb import fresh_database

from jobu.clock import FakeClock
from jobu.config import DispatcherConfig
from jobu.dispatcher import Dispatcher
from jobu.model import CronSpec, DatabaseSpec, ExecutionFilter
from jobu.store import Store, open_store, rows
from jobu.store.queries import load_queries

REPO = Path(__file__).resolve().parents[1]
JOBU = Path(sys.executable).parent / "jobu"
PASS_SCHEDULES = ["* * * * *", "*/5 * * * *", "*/10 * * * *", "*/15 * * * *", "0 * * * *"]


def lateness(dialect: str, spec: DatabaseSpec, url: str, folder: Path, seconds: float,
             crons: int) -> dict[str, float]:
    store = open_store(spec)
    store.migrate()
    for n in range(crons):
        store.cron_create(CronSpec(name=f"tick-{n:02d}", schedule="* * * * * *",
                                   handler_name="noop", allow_overlap=True))
    config_dir = folder / f"etc-{dialect}"
    shutil.copytree(REPO / "etc" / "jobu", config_dir)
    (config_dir / "dispatcher.yaml").write_text(yaml.safe_dump(
        {"min_cron_interval_seconds": 1, "log_level": "WARNING"}))
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("JOBU_", "NOTIFY_SOCKET", "WATCHDOG_"))}
    env.update(JOBU_CONFIG_DIR=str(config_dir), JOBU_STATE_DIR=str(folder),
               JOBU_DATABASE_URL=url)
    process = subprocess.Popen([str(JOBU), "dispatcher"], env=env, stdin=subprocess.DEVNULL)
    try:
        time.sleep(seconds)  # the measurement window itself: a benchmark, not a test
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    found = store.execution_list(ExecutionFilter(), limit=1_000_000).items
    # The first second is the process starting up, not the dispatcher at work.
    start = min(row.scheduled_time for row in found) + timedelta(seconds=2)
    late = sorted((row.created_at - row.scheduled_time).total_seconds() * 1000
                  for row in found if row.scheduled_time >= start)
    store.close()
    return {"rows": len(late), "p50": statistics.median(late),
            "p99": late[min(len(late) - 1, round(0.99 * (len(late) - 1)))], "max": late[-1]}


# --- 2. one pass over many crons ----------------------------------------------------------


def load_crons(store: Store, count: int, created: datetime) -> None:
    """Insert `count` enabled crons, 1000 per transaction (cron_create is one each)."""
    insert = load_queries(store.dialect)["cron_insert"]
    for first in range(0, count, 1000):
        specs = [CronSpec(name=f"c{n:05d}", schedule=PASS_SCHEDULES[n % len(PASS_SCHEDULES)],
                          handler_name="noop", allow_overlap=n % 2 == 0)
                 for n in range(first, min(count, first + 1000))]
        store.database.run(lambda conn, specs=specs: [
            conn.insert(insert, {**rows.cron_params(spec), "now": created}) for spec in specs])


def pass_times(spec: DatabaseSpec, crons: int) -> dict[str, float]:
    store = open_store(spec)
    store.migrate()
    now = store.database_now()
    top = (now + timedelta(hours=1 if now.minute < 59 else 2)).replace(
        minute=0, second=0, microsecond=0)
    # Created just before the first pass, so that each has exactly one tick at `top`.
    load_crons(store, crons, created=top - timedelta(seconds=31))
    clock = FakeClock(top - timedelta(seconds=30))
    dispatcher = Dispatcher(store, DispatcherConfig(min_cron_interval_seconds=1), clock=clock,
                            listen=False)
    # When the last batch's transaction committed: all rows are in, the pass not yet over.
    recorded_at = []
    record = store.cron_record_ticks

    def timed_record(*args, **kwargs):
        try:
            return record(*args, **kwargs)
        finally:
            recorded_at.append(time.perf_counter())
    store.cron_record_ticks = timed_record
    timings = {}
    for label, at in (("first pass (all unplanned)", top - timedelta(seconds=30)),
                      ("pass at the top of the hour (all due)", top + timedelta(seconds=0.1)),
                      ("pass with nothing due", top + timedelta(seconds=0.5))):
        clock.set(at)
        recorded_at.clear()
        started = time.perf_counter()
        dispatcher.run_once(clock.now())
        timings[label] = time.perf_counter() - started
        if "top of the hour" in label:
            timings["top of the hour: all rows committed after"] = recorded_at[-1] - started
    made = store.execution_list(ExecutionFilter(), limit=crons + 1).items
    assert len(made) == crons, f"expected {crons} rows, got {len(made)}"
    dispatcher.shutdown(hard_stop=None)
    store.close()
    return timings


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgres,mysql")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="how long the dispatcher runs for the lateness figures (0: skip)")
    parser.add_argument("--crons", type=int, default=10, help="crons ticking every second")
    parser.add_argument("--pass-crons", type=int, default=10_000,
                        help="enabled crons for the pass timings")
    parser.add_argument("--pass-runs", type=int, default=1,
                        help="times the passes are timed, each on a fresh database")
    args = parser.parse_args()
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} "
          f"cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for dialect in args.databases.split(","):
            if args.seconds > 0:
                with fresh_database(dialect, folder) as (spec, url):
                    late = lateness(dialect, spec, url, folder, args.seconds, args.crons)
                print(f"{dialect}: lateness over {late['rows']} ticks: p50 {late['p50']:.1f} ms, "
                      f"p99 {late['p99']:.1f} ms, max {late['max']:.1f} ms", flush=True)
            runs: dict[str, list[float]] = {}
            for _ in range(args.pass_runs):
                with fresh_database(dialect, folder) as (spec, url):
                    for label, seconds in pass_times(spec, args.pass_crons).items():
                        runs.setdefault(label, []).append(seconds)
                        print(f"{dialect}: {args.pass_crons} crons, {label}: {seconds:.2f} s",
                              flush=True)
            if args.pass_runs > 1:
                for label, times in runs.items():
                    print(f"{dialect}: {args.pass_crons} crons, {label}: best {min(times):.2f} s, "
                          f"median {statistics.median(times):.2f} s, worst {max(times):.2f} s",
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
