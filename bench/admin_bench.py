"""Benchmark of the admin's pages over a large database: 1,000,000 executions and 10,000 crons.

    .venv/bin/python bench/admin_bench.py                          # PostgreSQL, ~3 minutes
    .venv/bin/python bench/admin_bench.py --databases postgres,mysql,sqlite --requests 40

For each database of --databases, on a fresh migrated database (bench/benchdb.py): --crons
enabled crons (bench/dispatcher_bench.py's), --count executions loaded set-based as
bench/metrics_bench.py does (30 days of history, 1% PENDING, 0.5% RUNNING, 1% FAILED, the rest
SUCCESS), of which every second one is linked to a cron (round robin, so each cron has a
history), and the tables analysed once the links are made; one pass of a dispatcher plans
every cron's next tick, the history is folded into the statistics' running totals (timed,
beside one whole-history aggregate of the kind those totals replace), and
a real `jobu dispatcher` keeps them planned while the pages are timed (it also makes the
crons' ticks, about 2,000 executions a minute, which nobody runs). Then a real
`jobu admin serve` (gunicorn, admin.yaml's
defaults: 2 worker processes of 4 threads) answers --requests GET requests per page, one at a
time, over HTTP on the loopback, with an API token; after two untimed requests per page (the
pools and caches warm). It prints p50, p95 and the worst per page, and checks each answer is
200.

Nothing is asserted: the figures go to docs/performance.md beside the target (p95 <= 100 ms).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import yaml
from benchdb import fresh_database
from dispatcher_bench import load_crons
from metrics_bench import analyse, load

from jobu.clock import FakeClock
from jobu.config import DispatcherConfig
from jobu.dispatcher import Dispatcher
from jobu.operations.users import Role, add_user, issue_api_token
from jobu.store import Store, open_store
from jobu.store.stats import FOLD_BATCH

REPO = Path(__file__).resolve().parents[1]
JOBU = Path(sys.executable).parent / "jobu"

#: The pages timed; {cron} and {job} are filled with a cron's name and an execution's id.
#: /health reads nothing: the floor of any request (HTTP, gunicorn, Flask, the token check).
PAGES = ["/health", "/", "/crons", "/crons/{cron}", "/jobs", "/jobs?status=FAILED",
         "/jobs?cron={cron}", "/jobs/{job}", "/workers", "/api/v1/jobs", "/api/v1/crons",
         "/api/v1/crons/{cron}", "/api/v1/stats", "/api/v1/status", "/dead-letters", "/metrics"]


def link_to_crons(store: Store, dialect: str) -> None:
    """Every second execution becomes a run of a cron, round robin over the crons."""
    row = store.database.run(lambda c: c.fetch_one(
        "SELECT MIN(id) AS first_id, COUNT(*) AS crons FROM cron_jobs"), write=False)
    first, count = int(row["first_id"]), int(row["crons"])
    expression = {"postgres": f"{first} + (id / 2) % {count}",
                  "mysql": f"{first} + (id DIV 2) % {count}",
                  "sqlite": f"{first} + (id / 2) % {count}"}[dialect]
    store.database.run(lambda c: c.execute(
        f"UPDATE job_executions SET job_id = {expression}, param_source = 'cron' "
        f"WHERE id % 2 = 0"), write=True)


def plan_crons(store: Store) -> None:
    """One dispatcher pass at the real time: every cron gets its next tick planned."""
    dispatcher = Dispatcher(store, DispatcherConfig(maintenance_interval_seconds=86400),
                            clock=FakeClock(datetime.now(UTC)), database_clock=False,
                            listen=False, heartbeat_seconds=86400)
    try:
        dispatcher.run_once(datetime.now(UTC))
    finally:
        dispatcher.shutdown(hard_stop=None)


def fold_all(store: Store, dialect: str) -> None:
    """Fold the loaded history into the statistics' running totals, as the dispatcher's
    first maintenance passes after an upgrade would; and, for comparison, time once the
    whole-history aggregate those totals replace (what every statistics read cost before)."""
    began = time.perf_counter()
    folded = 0
    while True:
        looked_at = store.stats_fold()
        folded += looked_at
        if looked_at < FOLD_BATCH:
            break
    took = time.perf_counter() - began
    aggregate = {"postgres": "SUM(EXTRACT(EPOCH FROM (finished_at - started_at)))",
                 "mysql": "SUM(TIMESTAMPDIFF(MICROSECOND, started_at, finished_at))",
                 "sqlite": "SUM(julianday(finished_at) - julianday(started_at))"}[dialect]
    began = time.perf_counter()
    store.database.run(lambda c: c.fetch_one(
        f"SELECT COUNT(*) AS runs, {aggregate} AS seconds FROM job_executions "
        "WHERE job_id IS NOT NULL"), write=False)
    scan = (time.perf_counter() - began) * 1000
    print(f"{dialect}: folded {folded:,} executions into the statistics' totals in "
          f"{took:.1f} s; the whole-history aggregate they replace takes {scan:,.0f} ms",
          flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def config_dir(folder: Path, url: str) -> Path:
    directory = folder / "etc-jobu"
    shutil.copytree(REPO / "etc" / "jobu", directory, dirs_exist_ok=True)
    database = yaml.safe_load((directory / "database.yaml").read_text())
    database["databases"]["default"] = {"url": url}
    database["state_directory"] = str(folder)
    (directory / "database.yaml").write_text(yaml.safe_dump(database))
    admin = yaml.safe_load((directory / "admin.yaml").read_text())
    admin.update(log_level="WARNING", secret_key="bench-secret-key-bench-secret-key")
    (directory / "admin.yaml").write_text(yaml.safe_dump(admin))
    return directory


def get(url: str, token: str) -> float:
    """One GET; its milliseconds. A status other than 200 stops the benchmark."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        status = response.status
    took = (time.perf_counter() - began) * 1000
    if status != 200:
        raise SystemExit(f"{url}: HTTP {status}")
    return took


def bench(dialect: str, args: argparse.Namespace, folder: Path) -> None:
    with fresh_database(dialect, folder) as (spec, url):
        store = open_store(spec)
        try:
            store.migrate()
            began = time.perf_counter()
            load_crons(store, args.crons, datetime.now(UTC))
            load(store, dialect, args.count)
            link_to_crons(store, dialect)
            analyse(store, dialect)  # again: the links changed job_id's statistics
            plan_crons(store)
            loaded = time.perf_counter() - began
            fold_all(store, dialect)
            began = time.perf_counter() - loaded
            add_user(store, "bench", "bench-password-1", Role.ADMIN)
            token = issue_api_token(store, "bench")
            cron = store.cron_list()[args.crons // 2].name
            job = store.database.run(lambda c: c.fetch_one(
                "SELECT MAX(id) AS id FROM job_executions WHERE status = 'FAILED'"),
                write=False)["id"]
            print(f"{dialect}: {args.crons:,} crons and {args.count:,} executions loaded in "
                  f"{time.perf_counter() - began:.0f} s", flush=True)
        finally:
            store.close()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBU_")}
        directory = config_dir(folder, url)
        dispatcher = subprocess.Popen([str(JOBU), "--config-dir", str(directory), "dispatcher"],
                                      env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        server = subprocess.Popen(
            [str(JOBU), "--config-dir", str(directory), "admin", "serve",
             "--bind", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    get(f"{base}/health", token)
                    break
                except OSError as error:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("jobu admin serve did not start:\n"
                                         f"{server.stderr.read()}") from error
                    time.sleep(0.1)
            print(f"  {'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'worst':>8}")
            for page in PAGES:
                path = page.format(cron=cron, job=job)
                for _ in range(2):
                    get(base + path, token)
                times = sorted(get(base + path, token) for _ in range(args.requests))
                p95 = times[max(0, round(0.95 * len(times)) - 1)]
                print(f"  {path:<28} {statistics.median(times):8.1f} {p95:8.1f} "
                      f"{times[-1]:8.1f}", flush=True)
        finally:
            for process in (server, dispatcher):
                process.send_signal(signal.SIGTERM)
                process.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="postgres")
    parser.add_argument("--count", type=int, default=1_000_000, help="executions loaded")
    parser.add_argument("--crons", type=int, default=10_000, help="crons loaded")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page")
    args = parser.parse_args()
    print(f"{platform.node()}, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        for dialect in args.databases.split(","):
            bench(dialect, args, Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
