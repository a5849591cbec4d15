"""Benchmark of jobu-worker against issue 9's targets, beside raw SQL claim loops in the same run.

    .venv/bin/python bench/worker_bench.py --json worker.json > worker.md   # everything
    .venv/bin/python bench/worker_bench.py --quick                          # ~2 minutes

For each database (a fresh SQLite file, PostgreSQL schema or MariaDB database on the
test servers: JOBU_BENCH_POSTGRES_URL / JOBU_BENCH_MYSQL_URL, by default the ones
`make servers` provisions; dropped at the end), in one run:

1. **Latency** (first, on an empty table): --latency-workers real `jobu worker`
   processes (pool_size 4, etc/jobu/worker.yaml's shipped defaults otherwise) while
   this process inserts one execution every 20 ms through jobu's client insert (which
   notifies on PostgreSQL) for --latency-seconds. Latency is started_at − created_at,
   both on the database's clock: p50, p99, max. Then **idle**: the same workers with
   nothing to do for --idle-seconds, their CPU use in percent of one CPU.
2. **Drains**, with nothing else waiting and then with each --backlogs size waiting:
   --count no-op executions drained by
   * each raw loop of --raw-loops (bench/rawloop.py: T threads claiming B rows per
     transaction with jobu's own claim statement and completing them in one UPDATE,
     through the driver, no other jobu code) — the ceiling;
   * one `jobu worker` process of --pool-size threads.
   With nothing else waiting, also: the worker and the first raw loop from each other
   venv of --worker-venvs (Debian 12's pure-Python psycopg 3.1), and two worker
   processes of --pool-size threads on the same database.

How a drain is measured: the table holds backlog + count identical runnable rows (one
queue, one priority; copies of a row jobu's insert wrote, loaded with set-based SQL),
and the run stops once `count` rows have finished. Jobs per second is count over the
time from the first started_at to the count-th finished_at, both on the database's
clock. So the backlog never shrinks below its size during the measured window, and
nothing tells the measured rows apart from the waiting ones: a claim that costs more
with more rows waiting (a sort of every runnable row, a lock on every row read) shows
in the figure, whatever index or order the store chooses. A run that has not finished
`count` rows after --max-drain-seconds (with a backlog: after twice what the same drain
took with nothing else waiting, at least 10 s) is stopped and reports the rate of
what it finished (marked as cut). The worker's CPU per job is the steady state: utime +
stime of the worker processes (from /proc) between the moment 1 % of the count has
finished (or 5 s after the first job did, if sooner) and the end, over the jobs finished
in between, start-up left out (and not reported under 0.25 s of CPU: /proc counts in
10 ms ticks); a raw loop's is its process's CPU from its first claim to
its last completion.

Before each drain, what the previous one finished is deleted and new rows keep the
total; PostgreSQL gets a VACUUM ANALYZE and MariaDB an ANALYZE TABLE (what their
background work would soon do), SQLite nothing (as jobu leaves it).

It prints progress to stderr and, at the end, Markdown to stdout: a table per database
and a summary of each target with the figure reached and the ceiling beside it, ready
for docs/performance.md; --json writes every figure to a file. --profile adds one more
drain with the worker under py-spy (install it with `.venv/bin/pip install py-spy`)
and prints its top costs per job. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from benchdb import fresh_database
from jobtable import JobTable

import jobu
from jobu.model import DatabaseSpec, NewExecution
from jobu.store import Store, open_store

REPO = Path(__file__).resolve().parents[1]
#: The shipped configuration of the jobu being measured (PYTHONPATH may name another tree).
ETC = next(path for path in (Path(jobu.__file__).resolve().parents[1] / "etc" / "jobu",
                             REPO / "etc" / "jobu") if path.is_dir())
RAWLOOP = Path(__file__).resolve().parent / "rawloop.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
#: The least CPU time over which a worker's CPU per job is reported: /proc counts in ticks
#: (10 ms), so this keeps the error within a few percent.
MIN_CPU_WINDOW = 0.25
NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MariaDB"}
#: Issue 9's targets for one worker of pool_size 4 draining 10,000 no-op executions.
DRAIN_TARGET = {"sqlite": 5000, "postgres": 3000, "mysql": 1500}
BACKLOG_TARGET = 0.9  # of the figure with nothing else waiting
CPU_TARGET_MS = 0.3
LATENCY_TARGET_MS = {"sqlite": (25.0, None), "postgres": (5.0, 20.0), "mysql": (25.0, None)}
IDLE_TARGET_PERCENT = 1.0
PARTS = ("latency", "drain", "backlog", "venvs", "pair")
QUICK = {"count": 2000, "backlogs": "20000", "latency_seconds": 5.0, "idle_seconds": 5.0,
         "max_drain_seconds": 30.0}


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- processes --------------------------------------------------------------------------------


def venv_label(venv: Path) -> str:
    return str(venv.relative_to(REPO)) if venv.is_relative_to(REPO) else str(venv)


def venv_info(venv: Path) -> dict[str, str]:
    """Python and driver versions of a venv (psycopg's binding: python, c or binary)."""
    probe = ("import json, platform, psycopg, pymysql; print(json.dumps({'python': "
             "platform.python_version(), 'psycopg': psycopg.__version__, 'psycopg_impl': "
             "psycopg.pq.__impl__, 'pymysql': pymysql.__version__}))")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def thread_cpu_seconds(pid: int) -> float:
    """CPU time of a process's live threads, in nanoseconds' precision (schedstat), where
    /proc/PID/stat counts in ticks of 10 ms: for the small figures of an idle process."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # the thread ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


class WorkerExitedError(RuntimeError):
    """A worker ended before the benchmark stopped it."""


class WorkerProcess:
    """A `jobu worker` subprocess from one venv, on a configuration directory of its own.

    worker.yaml is the shipped one (every key at its default) with `settings` over it;
    the log goes to a file beside it, as it would go to the journal.
    """

    def __init__(self, folder: Path, url: str, venv: Path, settings: dict[str, Any]) -> None:
        name = f"worker-{uuid.uuid4().hex[:6]}"
        self.config_dir = folder / name
        shutil.copytree(ETC, self.config_dir)
        worker_yaml = self.config_dir / "worker.yaml"
        worker_yaml.write_text(yaml.safe_dump({**yaml.safe_load(worker_yaml.read_text()),
                                               **settings}))
        self.log_path = folder / f"{name}.log"
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("JOBU_", "NOTIFY_SOCKET", "WATCHDOG_"))}
        env.update(JOBU_CONFIG_DIR=str(self.config_dir), JOBU_STATE_DIR=str(folder),
                   JOBU_DATABASE_URL=url)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen([str(venv / "bin" / "jobu"), "worker"], env=env,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_mib(self) -> float:
        pages = int(Path(f"/proc/{self.pid}/statm").read_text().split()[1])
        return pages * PAGE_SIZE / 2**20

    def check(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
            raise WorkerExitedError(f"jobu worker {self.pid} exited "
                                    f"{self.process.returncode}:\n" + "\n".join(tail))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def registered(store: Store, workers: list[WorkerProcess]) -> bool:
    for worker in workers:
        worker.check()
    pids = {w.pid for w in store.worker_list()}
    return all(worker.pid in pids for worker in workers)


# --- one database -------------------------------------------------------------------------------


@dataclass
class Options:
    count: int
    pool_size: int
    raw_loops: list[tuple[int, int]]
    backlogs: list[int]
    venvs: list[Path]
    parts: set[str]
    max_drain_seconds: float
    latency_seconds: float
    latency_workers: int
    idle_seconds: float
    log_level: str | None
    profile: bool
    profile_rate: int
    profile_count: int
    repeat: int


def connect_args(dialect: str, spec: DatabaseSpec) -> dict[str, Any]:
    """Driver keyword arguments for the benchmark's and the raw loop's own connections."""
    if dialect == "sqlite":
        return {"path": spec.path}
    if dialect == "postgres":
        from jobu.db.postgres import connect_kwargs  # the keyword arguments only
        return connect_kwargs(spec)
    return {"host": spec.host, "port": spec.port, "user": spec.user,
            "password": spec.password or "", "database": spec.dbname}


class DatabaseBench:
    """Every figure of one database; `result` is what goes to the report and the JSON."""

    def __init__(self, dialect: str, spec: DatabaseSpec, url: str, folder: Path,
                 options: Options) -> None:
        self.dialect = dialect
        self.spec = spec
        self.url = url
        self.folder = folder
        self.opt = options
        self.connect = connect_args(dialect, spec)
        self.store = open_store(spec)
        self.store.migrate()
        self.table = JobTable(dialect, self.connect)
        self.table.keep_template(self.store.execution_insert(NewExecution("noop")))
        self.result: dict[str, Any] = {
            "database": dialect, "server": self.table.server_version(), "loads": [],
            "drains": [], "load_average": [os.getloadavg()[0]]}

    def close(self) -> None:
        self.table.close()
        self.store.close()

    def worker_settings(self, **settings: Any) -> dict[str, Any]:
        if self.opt.log_level:
            settings["log_level"] = self.opt.log_level
        return settings

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        opt = self.opt
        if "latency" in opt.parts:
            self.result["latency"] = self.latency_and_idle()
            self.table.clear()
        base = bool(opt.parts & {"drain", "backlog"})  # the backlog figures' reference
        for backlog in [0] + (opt.backlogs if "backlog" in opt.parts else []):
            if backlog:
                self.load(backlog + opt.count)
            if base:
                for threads, batch in opt.raw_loops:
                    self.measure(self.raw_drain, backlog, threads, batch, opt.venvs[0])
                self.measure(self.worker_drain, backlog, opt.venvs[0], workers=1)
            if backlog == 0 and "venvs" in opt.parts:
                for venv in opt.venvs[1:]:
                    self.measure(self.worker_drain, 0, venv, workers=1)
                    if opt.raw_loops:
                        self.measure(self.raw_drain, 0, *opt.raw_loops[0], venv)
            if backlog == 0 and "pair" in opt.parts:
                self.measure(self.worker_drain, 0, opt.venvs[0], workers=2)
            if backlog == 0 and opt.profile:
                self.result["profile"] = self.profile_drain()
        self.result["load_average"].append(os.getloadavg()[0])
        self.result["seconds"] = time.monotonic() - started
        return self.result

    # --- loads and drains -----------------------------------------------------------------

    def load(self, total: int) -> None:
        """Bring the queue up to `total` rows, and note how long the set-based load took."""
        self.table.tidy()
        before = self.table.waiting()
        started = time.monotonic()
        self.table.add(total - before)
        seconds = time.monotonic() - started
        self.result["loads"].append({"rows": total, "added": total - before, "seconds": seconds})
        progress(f"{self.dialect}: loaded {total - before:,} rows (now {total:,} waiting) in "
                 f"{seconds:.1f} s")

    def time_limit(self, backlog: int, label: str) -> float:
        """How long a drain may take: --max-drain-seconds, and with a backlog at most twice
        (and at least 10 s) what the same drain took with nothing else waiting: by then it
        is already far below the 90 % target, and the rate of the jobs done so far is the
        figure. It keeps a run of a slow claim (seconds per claim with a million rows
        waiting) within minutes."""
        base = next((d for d in self.result["drains"] if d["label"] == label
                     and d["backlog"] == 0 and d["venv"] == venv_label(self.opt.venvs[0])),
                    None)
        if backlog == 0 or base is None:
            return self.opt.max_drain_seconds
        return min(self.opt.max_drain_seconds, max(10.0, 2 * base["wall_seconds"]))

    def measure(self, drain: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        """Run a drain --repeat times and keep the run of the median rate (every rate is
        kept beside it): one run on a machine shared with other work is noisy."""
        runs = []
        for _ in range(self.opt.repeat):
            try:
                runs.append(drain(*args, **kwargs))
            except WorkerExitedError as error:
                # Once, a worker stopped cleanly in mid-drain, as if another process on the
                # machine had sent it SIGTERM: run the drain again, once, and say so.
                progress(f"{self.dialect}: {error}\n... running that drain again")
                runs.append(drain(*args, **kwargs))
            self.report(runs[-1])
        runs.sort(key=lambda run: run["rate"])
        kept = runs[(len(runs) - 1) // 2]
        kept["rates"] = [run["rate"] for run in runs]
        self.result["drains"].append(kept)

    def raw_drain(self, backlog: int, threads: int, batch: int, venv: Path) -> dict[str, Any]:
        """One drain by bench/rawloop.py, run from `venv`: the ceiling."""
        opt = self.opt
        label = f"raw {threads}×{batch}"
        limit = self.time_limit(backlog, label)
        self.table.prepare(backlog + opt.count)
        started = time.monotonic()
        database = json.dumps({"dialect": self.dialect, "connect": self.connect})
        out = subprocess.run(  # the database on stdin: its password stays out of `ps`
            [str(venv / "bin" / "python"), str(RAWLOOP), "--threads", str(threads),
             "--batch", str(batch), "--count", str(opt.count), "--max-seconds", str(limit)],
            input=database, capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"the raw loop failed:\n{out.stderr}")
        loop = json.loads(out.stdout.splitlines()[-1])
        jobs, span = self.table.window(opt.count)
        return {"kind": "raw", "label": label, "threads": threads, "batch": batch,
                "backlog": backlog, "venv": venv_label(venv), "jobs": jobs,
                "complete": jobs >= opt.count, "seconds": span,
                "wall_seconds": time.monotonic() - started,
                "rate": jobs / span if span else 0.0,
                "cpu_ms_per_job": loop["cpu_seconds"] / max(1, loop["completed"]) * 1000}

    def worker_drain(self, backlog: int, venv: Path, *, workers: int) -> dict[str, Any]:
        """One drain by `workers` `jobu worker` processes from `venv`, sampling how many
        jobs have finished and the workers' CPU every 0.1 s until `count` have."""
        opt = self.opt
        label = "jobu worker" if workers == 1 else f"{workers} jobu workers"
        limit = self.time_limit(backlog, label)
        self.table.prepare(backlog + opt.count)
        settings = self.worker_settings(pool_size=opt.pool_size)
        started = time.monotonic()
        procs = [WorkerProcess(self.folder, self.url, venv, settings) for _ in range(workers)]
        mark: tuple[int, float] | None = None  # where the steady state starts
        first_done: float | None = None
        try:
            deadline = started + limit
            while True:
                done = self.table.finished()
                cpu = sum(p.cpu_seconds() for p in procs)
                now = time.monotonic()
                if first_done is None and done:
                    first_done = now
                # Start-up is over once jobs finish: from 1 % of the count on (or 5 s after
                # the first job, in a slow drain) the CPU is the jobs'.
                if mark is None and (done >= max(1, opt.count // 100)
                                     or (first_done is not None and now - first_done >= 5)):
                    mark = (done, cpu)
                if done >= opt.count or now > deadline:
                    end = (done, cpu)
                    break
                for proc in procs:
                    proc.check()
                time.sleep(0.1)
            wall = time.monotonic() - started
            rss = max(p.rss_mib() for p in procs)
        finally:
            for proc in procs:
                proc.stop()
        jobs, span = self.table.window(opt.count)
        cpu_ms = None  # unless the window is long enough for /proc's 10 ms ticks
        if mark is not None and end[0] > mark[0] and end[1] - mark[1] >= MIN_CPU_WINDOW:
            cpu_ms = (end[1] - mark[1]) / (end[0] - mark[0]) * 1000
        return {"kind": "worker", "label": label, "workers": workers,
                "pool_size": opt.pool_size, "backlog": backlog, "venv": venv_label(venv),
                "jobs": jobs, "complete": jobs >= opt.count, "seconds": span,
                "wall_seconds": wall, "rate": jobs / span if span else 0.0,
                "cpu_ms_per_job": cpu_ms, "rss_mib": rss}

    def report(self, drain: dict[str, Any]) -> None:
        """One progress line per drain run."""
        cpu = drain["cpu_ms_per_job"]
        progress(f"{self.dialect}: {drain['label']} ({drain['venv']}), {drain['backlog']:,} "
                 f"waiting: {drain['rate']:,.0f} jobs/s over {drain['jobs']:,} jobs"
                 + ("" if drain["complete"] else " (cut at the time limit)")
                 + (f", {cpu:.3f} ms CPU per job" if cpu is not None else ""))

    # --- latency and idle -----------------------------------------------------------------

    def latency_and_idle(self) -> dict[str, Any]:
        """Enqueue → start at 50 jobs/s with idle workers, then their CPU with nothing to do."""
        opt = self.opt
        self.table.clear()
        settings = self.worker_settings(pool_size=4)
        procs = [WorkerProcess(self.folder, self.url, opt.venvs[0], settings)
                 for _ in range(opt.latency_workers)]
        try:
            wait_for(lambda: registered(self.store, procs), 60, "the workers to register")
            time.sleep(1.0)  # let them settle (and, on PostgreSQL, LISTEN) before the stream
            next_at = time.monotonic()
            end = next_at + opt.latency_seconds
            while next_at < end:
                self.store.execution_insert(NewExecution("noop"))
                next_at += 0.02
                time.sleep(max(0.0, next_at - time.monotonic()))
            wait_for(lambda: self.table.unfinished() == 0, 60, "the stream to finish")
            waits = self.table.latencies_ms()
            time.sleep(2.0)  # the last jobs end; then there is nothing to do
            before = [thread_cpu_seconds(p.pid) for p in procs]
            started = time.monotonic()
            time.sleep(opt.idle_seconds)  # the measurement window itself
            elapsed = time.monotonic() - started
            idle = [max(0.0, thread_cpu_seconds(p.pid) - b) / elapsed * 100
                    for p, b in zip(procs, before, strict=True)]
            rss = max(p.rss_mib() for p in procs)
        finally:
            for proc in procs:
                proc.stop()
        result = {"workers": len(procs), "jobs": len(waits), "p50": statistics.median(waits),
                  "p99": waits[min(len(waits) - 1, round(0.99 * (len(waits) - 1)))],
                  "max": waits[-1], "idle_cpu_percent": max(idle), "idle_rss_mib": rss}
        progress(f"{self.dialect}: enqueue->start at 50 jobs/s over {len(waits)} jobs: p50 "
                 f"{result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, max {result['max']:.1f} "
                 f"ms; idle {result['idle_cpu_percent']:.2f}% of a CPU, RSS {rss:.0f} MiB")
        return result

    # --- profile ------------------------------------------------------------------------------

    def profile_drain(self) -> dict[str, Any]:
        """One more drain, with nothing else waiting, the worker under py-spy (--gil).

        The worker starts on an empty queue and py-spy attaches once it has registered,
        so that start-up stays out of the samples; then the rows are added.
        """
        opt = self.opt
        spy = shutil.which("py-spy", path=str(opt.venvs[0] / "bin")) or shutil.which("py-spy")
        if not spy:
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.table.prepare(0)
        output = self.folder / f"py-spy-{self.dialect}.txt"
        proc = WorkerProcess(self.folder, self.url, opt.venvs[0],
                             self.worker_settings(pool_size=opt.pool_size))
        try:
            wait_for(lambda: registered(self.store, [proc]), 60, "the worker to register")
            recorder = subprocess.Popen(
                [spy, "record", "--pid", str(proc.pid), "--rate", str(opt.profile_rate),
                 "--format", "raw", "--output", str(output), *PY_SPY_FLAGS],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)
            cpu_before = proc.cpu_seconds()
            self.table.add(opt.profile_count)
            deadline = time.monotonic() + opt.max_drain_seconds
            wait_for(lambda: self.table.finished() >= opt.profile_count
                     or time.monotonic() > deadline, opt.max_drain_seconds + 5, "the drain")
            cpu = proc.cpu_seconds() - cpu_before
        finally:
            proc.stop()
        if recorder.wait(60) or not output.exists():
            raise RuntimeError(f"py-spy failed: {recorder.stderr.read().decode()}")
        jobs = self.table.finished()
        profile = top_costs(output.read_text(), jobs, opt.profile_rate)
        profile.update(jobs=jobs, cpu_ms_per_job=cpu / max(1, jobs) * 1000,
                       rate_hz=opt.profile_rate)
        progress(f"{self.dialect}: profiled {jobs:,} jobs, {profile['sampled_ms_per_job']:.3f} "
                 f"ms sampled per job, {profile['cpu_ms_per_job']:.3f} ms CPU per job")
        return profile


#: py-spy's sampling flags (JOBU_BENCH_PY_SPY_FLAGS). --gil samples only the thread that holds
#: the GIL, i.e. the one running Python: without it, py-spy counts threads waiting on a socket
#: as busy (3-4 times the CPU figure here). C code that releases the GIL (SQLite's library, the
#: kernel) is then left out of the samples, but not out of the CPU figure printed beside them.
PY_SPY_FLAGS = os.environ.get("JOBU_BENCH_PY_SPY_FLAGS", "--gil").split()


def frame_module(frame: str) -> str:
    """'execute (psycopg/cursor.py:732)' -> 'psycopg/cursor.py'."""
    inside = frame.rsplit(" (", 1)[-1].rstrip(")")
    return inside.rsplit(":", 1)[0]


def frame_group(frame: str) -> str:
    """Where a sample's own time goes: a package or module ('psycopg', 'threading'), or one
    of jobu's modules ('jobu/store'). py-spy names files relative to their sys.path entry."""
    parts = frame_module(frame).removesuffix(".py").split("/")
    return "/".join(parts[:2]) if parts[0] == "jobu" else parts[0]


#: Frames every sample of a thread passes through: left out of the inclusive ranking.
WRAPPERS = {"<module>", "main", "cmd_worker", "run_daemon", "Daemon.run", "Thread._bootstrap",
            "Thread._bootstrap_inner", "Thread.run"}


def top_costs(raw: str, jobs: int, rate: int, top: int = 15) -> dict[str, Any]:
    """Per job: where py-spy's samples fell, by own time per package or jobu module, and
    by inclusive time per function (the process's and threads' entry points left out)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frame_group(frames[-1])] += count
        for name in {frame.rsplit(":", 1)[0] + ")" if ":" in frame else frame
                     for frame in frames}:  # once per sample, whatever the line
            if name.split(" (", 1)[0] not in WRAPPERS:
                inclusive[name] += count
    per_job = 1000 / rate / max(1, jobs)  # ms per sample per job
    return {
        "samples": total, "sampled_ms_per_job": total * per_job,
        "own": [{"where": k, "percent": v / total * 100, "ms_per_job": v * per_job}
                for k, v in own.most_common(top)] if total else [],
        "inclusive": [{"function": k, "percent": v / total * 100, "ms_per_job": v * per_job}
                      for k, v in inclusive.most_common(top)] if total else [],
    }


# --- the report ---------------------------------------------------------------------------------


def rate_text(drain: dict[str, Any] | None) -> str:
    if drain is None:
        return ""
    return f"{drain['rate']:,.0f}" + ("" if drain["complete"] else "*")


def cpu_text(drain: dict[str, Any] | None) -> str:
    if drain is None or drain["cpu_ms_per_job"] is None:
        return ""
    return f"{drain['cpu_ms_per_job']:.3f}"


def find(result: dict[str, Any], **match: Any) -> dict[str, Any] | None:
    for drain in result["drains"]:
        if all(drain.get(key) == value for key, value in match.items()):
            return drain
    return None


def database_markdown(result: dict[str, Any], report: dict[str, Any]) -> list[str]:
    """The tables of one database."""
    dialect = result["database"]
    count, pool = report["count"], report["pool_size"]
    main_venv = report["venvs"][0]
    raw_labels = [f"raw {t}×{b}" for t, b in report["raw_loops"]]
    lines = [f"### {NAMES[dialect]} {result['server']}", ""]
    if result["loads"]:
        lines += ["Loading the backlogs (set-based SQL, each on top of the last): " + "; ".join(
            f"{load['added']:,} rows in {load['seconds']:.1f} s (to {load['rows']:,})"
            for load in result["loads"]) + ".", ""]
    rows: list[tuple[str, dict[str, Any]]] = []
    for backlog in sorted({d["backlog"] for d in result["drains"]}):
        waiting = "nothing else waiting" if backlog == 0 else f"{backlog:,} waiting"
        rows.append((f"{waiting}, {main_venv}", {"backlog": backlog, "venv": main_venv,
                                                 "workers": 1}))
        if backlog == 0:
            for venv in report["venvs"][1:]:
                rows.append((f"{waiting}, {venv}", {"backlog": 0, "venv": venv, "workers": 1}))
            rows.append((f"{waiting}, 2 worker processes", {"backlog": 0, "venv": main_venv,
                                                            "workers": 2}))
    header = ["", f"jobu worker, pool {pool}", *raw_labels]
    for title, value_text in ((f"Draining {count:,} no-op executions, jobs/s", rate_text),
                              ("CPU per job, ms", cpu_text)):
        body = []
        for name, match in rows:
            worker = find(result, kind="worker", **match)
            raws = [find(result, kind="raw", label=label, backlog=match["backlog"],
                         venv=match["venv"]) if match["workers"] == 1 else None
                    for label in raw_labels]
            cells = [value_text(worker)] + [value_text(raw) for raw in raws]
            if any(cells):
                body.append(f"| {name} | " + " | ".join(cells) + " |")
        if body:
            lines += [f"**{title}**", "", "| " + " | ".join(header) + " |",
                      "|" + " --- |" * len(header), *body, ""]
    if any(not d["complete"] for d in result["drains"]):
        lines += [f"\\* cut at the time limit before {count:,} jobs had finished: the rate "
                  "of the jobs that had.", ""]
    latency = result.get("latency")
    if latency:
        lines += ["| enqueue → start, 50 jobs/s | jobs | p50 | p99 | max | idle CPU | idle RSS |",
                  "| --- | --- | --- | --- | --- | --- | --- |",
                  f"| {latency['workers']} worker{'s' if latency['workers'] > 1 else ''}, pool 4, "
                  "shipped defaults | "
                  f"{latency['jobs']} | {latency['p50']:.1f} ms | {latency['p99']:.1f} ms | "
                  f"{latency['max']:.1f} ms | {latency['idle_cpu_percent']:.2f} % | "
                  f"{latency['idle_rss_mib']:.0f} MiB |", ""]
    profile = result.get("profile")
    if profile and profile["samples"]:
        flags = " ".join(PY_SPY_FLAGS)
        lines += [f"**Profile** (py-spy {flags} at {profile['rate_hz']} Hz over "
                  f"{profile['jobs']:,} jobs: {profile['sampled_ms_per_job']:.3f} ms of Python "
                  f"sampled and {profile['cpu_ms_per_job']:.3f} ms CPU per job; C code that "
                  "releases the GIL, such as SQLite's library, is in the CPU figure only)", "",
                  "| own time in | % | ms/job |", "| --- | --- | --- |",
                  *(f"| {o['where']} | {o['percent']:.0f} | {o['ms_per_job']:.3f} |"
                    for o in profile["own"]), "",
                  "| inclusive time in | % | ms/job |", "| --- | --- | --- |",
                  *(f"| `{o['function']}` | {o['percent']:.0f} | {o['ms_per_job']:.3f} |"
                    for o in profile["inclusive"]), ""]
    return lines


def summary(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target per database: the figure, whether it is met, and the ceilings beside it."""
    rows: list[dict[str, Any]] = []
    count, pool = report["count"], report["pool_size"]
    main_venv = report["venvs"][0]
    like = f"raw {pool}×1"

    def ceilings(result: dict[str, Any], backlog: int, venv: str) -> dict[str, Any]:
        raws = [d for d in result["drains"]
                if d["kind"] == "raw" and d["backlog"] == backlog and d["venv"] == venv]
        fastest = max(raws, key=lambda d: d["rate"], default=None)
        return {"fastest": fastest, "like": next((d for d in raws if d["label"] == like), None)}

    for result in report["results"]:
        dialect = result["database"]
        base = find(result, kind="worker", backlog=0, venv=main_venv, workers=1)
        if base:
            target = DRAIN_TARGET[dialect]
            rows.append({"workload": f"drain {count:,} no-op, one worker, pool {pool}",
                         "database": dialect, "target": f"≥ {target:,} jobs/s",
                         "figure": base["rate"], "unit": "jobs/s",
                         "met": base["rate"] >= target, **ceilings(result, 0, main_venv),
                         "drain": base})
            for drain in result["drains"]:
                if drain["kind"] == "worker" and drain["backlog"] and drain["workers"] == 1:
                    share = drain["rate"] / base["rate"] if base["rate"] else 0.0
                    rows.append({
                        "workload": f"the same, {drain['backlog']:,} waiting",
                        "database": dialect,
                        "target": f"≥ 90 % of {base['rate']:,.0f}",
                        "figure": drain["rate"], "unit": "jobs/s", "share": share,
                        "met": share >= BACKLOG_TARGET,
                        **ceilings(result, drain["backlog"], main_venv), "drain": drain})
            pair = find(result, kind="worker", backlog=0, venv=main_venv, workers=2)
            if pair:
                rows.append({"workload": f"2 worker processes × {pool} threads",
                             "database": dialect,
                             "target": f"≥ one worker's {base['rate']:,.0f}",
                             "figure": pair["rate"], "unit": "jobs/s",
                             "met": pair["rate"] >= base["rate"],
                             **ceilings(result, 0, main_venv), "drain": pair})
        for venv in report["venvs"]:
            worker = find(result, kind="worker", backlog=0, venv=venv, workers=1)
            if worker and worker["cpu_ms_per_job"] is not None:
                info = report["venv_info"][venv]
                raws = [d for d in result["drains"] if d["kind"] == "raw" and d["backlog"] == 0
                        and d["venv"] == venv]
                driver = {"postgres": f"psycopg {info['psycopg']}, {info['psycopg_impl']} binding",
                          "mysql": f"PyMySQL {info['pymysql']}",
                          "sqlite": f"Python {info['python']}'s sqlite3"}[dialect]
                rows.append({
                    "workload": f"worker CPU per job, pool {pool}, {venv} ({driver})",
                    "database": dialect, "target": f"≤ {CPU_TARGET_MS} ms",
                    "figure": worker["cpu_ms_per_job"], "unit": "ms", "cpu": True,
                    "met": worker["cpu_ms_per_job"] <= CPU_TARGET_MS,
                    "fastest": min(raws, key=lambda d: d["cpu_ms_per_job"], default=None),
                    "like": next((d for d in raws if d["label"] == like), None),
                    "drain": worker})
        latency = result.get("latency")
        if latency:
            p50_target, p99_target = LATENCY_TARGET_MS[dialect]
            met = latency["p50"] <= p50_target and (p99_target is None
                                                    or latency["p99"] <= p99_target)
            target = f"p50 ≤ {p50_target:g} ms" + (f", p99 ≤ {p99_target:g} ms"
                                                   if p99_target else "")
            rows.append({"workload": "enqueue → start at 50 jobs/s", "database": dialect,
                         "target": target, "figure_text":
                         f"p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms",
                         "met": met})
            rows.append({"workload": "idle worker CPU", "database": dialect,
                         "target": f"≤ {IDLE_TARGET_PERCENT:g} %",
                         "figure_text": f"{latency['idle_cpu_percent']:.2f} %",
                         "met": latency["idle_cpu_percent"] <= IDLE_TARGET_PERCENT})
    return rows


def summary_markdown(rows: list[dict[str, Any]], like_threads: int) -> list[str]:
    def figure(row: dict[str, Any]) -> str:
        if "figure_text" in row:
            return row["figure_text"]
        if row.get("cpu"):
            return f"{row['figure']:.3f} ms"
        text = f"{row['figure']:,.0f} jobs/s" + ("" if row["drain"]["complete"] else "*")
        return text + (f" ({row['share']:.0%})" if "share" in row else "")

    def ceiling(row: dict[str, Any], which: str) -> tuple[str, str]:
        raw = row.get(which)
        if raw is None:
            return "—", "—"
        if row.get("cpu"):
            value = raw["cpu_ms_per_job"]
            return (f"{value:.3f} ms ({raw['label']})",
                    f"{row['figure'] / value:.1f}×" if value else "—")
        return (f"{raw['rate']:,.0f} jobs/s ({raw['label']})",
                f"{row['figure'] / raw['rate']:.2f}" if raw["rate"] else "—")

    lines = ["| workload | database | target | jobu | met | fastest raw loop, same run | "
             f"jobu ÷ it | raw {like_threads} threads × 1 row | jobu ÷ it |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        fastest, like = ceiling(row, "fastest"), ceiling(row, "like")
        lines.append(f"| {row['workload']} | {NAMES[row['database']]} | {row['target']} | "
                     f"{figure(row)} | {'yes' if row['met'] else '**no**'} | {fastest[0]} | "
                     f"{fastest[1]} | {like[0]} | {like[1]} |")
    return lines


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    repeat = report.get("repeat", 1)
    venvs = "; ".join(
        f"{name}: Python {i['python']}, psycopg {i['psycopg']} ({i['psycopg_impl']}), PyMySQL "
        f"{i['pymysql']}" for name, i in report["venv_info"].items())
    lines = ["## jobu-worker against issue 9's targets (`bench/worker_bench.py`)", "",
             f"Measured {meta['date']} on {meta['host']} ({meta['cores']} cores), "
             f"{meta['seconds'] / 60:.1f} minutes for the whole run; {venvs}. Load average "
             f"{meta['load_average'][0]:.1f} at the start and {meta['load_average'][1]:.1f} "
             "at the end: other work shared the cores, so expect noise.", "",
             f"Drains: {report['count']:,} no-op executions, the worker at pool_size "
             f"{report['pool_size']} (log_level {report['log_level'] or 'as shipped'})"
             + (f", each figure the median of {repeat} runs" if repeat > 1 else "") + "; "
             "\"raw T×B\" is bench/rawloop.py, T threads claiming B rows per transaction with "
             "jobu's claim statement and completing them in one UPDATE, through the driver "
             "only.", ""]
    for result in report["results"]:
        lines += database_markdown(result, report)
    lines += ["### Summary", "", "A fraction below 1 is jobu's share of the ceiling; for CPU, "
              "how many times the raw loop's CPU per job jobu spends.", "",
              *summary_markdown(report["summary"], report["pool_size"]), ""]
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------


def parse_loops(text: str) -> list[tuple[int, int]]:
    """'4x1,1x4,1x10' -> [(4, 1), (1, 4), (1, 10)]: threads × rows per claim."""
    loops = []
    for item in filter(None, text.replace("×", "x").split(",")):
        threads, batch = item.split("x")
        loops.append((int(threads), int(batch)))
    return loops


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    debian = REPO / ".venv-debian"
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="parts: latency (and idle), drain (nothing else waiting), backlog (each "
               "--backlogs size), venvs (the other --worker-venvs), pair (two workers)")
    parser.add_argument("--databases", default="sqlite,postgres,mysql")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="which measurements, comma-separated (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, a couple of minutes: --count 2000 --backlogs 20000 "
                             "--latency-seconds 5 --idle-seconds 5 --max-drain-seconds 30 "
                             "(flags given as well win)")
    parser.add_argument("--count", type=int, help="executions per drain (default 10,000)")
    parser.add_argument("--backlogs",
                        help="rows waiting besides the measured ones, comma-separated "
                             "(default 100000,1000000)")
    parser.add_argument("--mysql-backlogs",
                        help="the same for MariaDB (default: --backlogs without sizes over "
                             "--mysql-max-backlog)")
    parser.add_argument("--mysql-max-backlog", type=int, default=0,
                        help="leave larger --backlogs sizes out on MariaDB, whose load takes "
                             "longest (about 11 s per million rows here; default 0: no limit)")
    parser.add_argument("--pool-size", type=int, default=4)
    parser.add_argument("--raw-loops",
                        help="raw loops as THREADSxBATCH, comma-separated (default: "
                             "<pool>x1,1x<pool>,1x10; '' for none)")
    parser.add_argument("--worker-venvs",
                        help="venvs whose jobu worker is measured, comma-separated; the first "
                             "runs every figure, the others the drain and CPU per job (default: "
                             "this venv, and .venv-debian if it exists)")
    parser.add_argument("--max-drain-seconds", type=float,
                        help="stop a drain that takes longer (default 120); with a backlog, "
                             "also after twice (at least 10 s) the same drain's time "
                             "with nothing else waiting")
    parser.add_argument("--latency-seconds", type=float,
                        help="how long the 50 jobs/s stream runs (default 10)")
    parser.add_argument("--latency-workers", type=int, default=1)
    parser.add_argument("--idle-seconds", type=float, help="default 10")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each drain this many times and keep the median (default 1)")
    parser.add_argument("--log-level", help="the workers' log_level (default: as shipped)")
    parser.add_argument("--profile", action="store_true",
                        help="one more drain with the worker under py-spy: its top costs")
    parser.add_argument("--profile-rate", type=int, default=250, help="py-spy samples/s")
    parser.add_argument("--profile-count", type=int,
                        help="executions of the profiled drain (default: --count, at least "
                             "10,000, for enough samples)")
    parser.add_argument("--json", metavar="FILE", help="write every figure here too")
    args = parser.parse_args()

    defaults = {"count": 10_000, "backlogs": "100000,1000000", "latency_seconds": 10.0,
                "idle_seconds": 10.0, "max_drain_seconds": 120.0}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, QUICK[key] if args.quick else value)
    backlogs = [int(b) for b in args.backlogs.split(",") if b and int(b) > 0]
    if args.mysql_backlogs is not None:
        mysql_backlogs = [int(b) for b in args.mysql_backlogs.split(",") if b and int(b) > 0]
    else:
        mysql_backlogs = [b for b in backlogs
                          if not args.mysql_max_backlog or b <= args.mysql_max_backlog]
    parts = set(args.parts.split(","))
    if parts - set(PARTS):
        parser.error(f"unknown parts {sorted(parts - set(PARTS))}; known: {', '.join(PARTS)}")
    venvs = [Path(v).resolve() for v in args.worker_venvs.split(",")] if args.worker_venvs \
        else [Path(sys.executable).parent.parent] + ([debian] if debian.is_dir() else [])
    raw_loops = parse_loops(args.raw_loops if args.raw_loops is not None
                            else f"{args.pool_size}x1,1x{args.pool_size},1x10")
    report: dict[str, Any] = {
        "count": args.count, "pool_size": args.pool_size, "raw_loops": raw_loops,
        "repeat": args.repeat,
        "venvs": [venv_label(v) for v in venvs], "log_level": args.log_level,
        "venv_info": {venv_label(v): venv_info(v) for v in venvs}, "results": []}
    started = time.monotonic()
    load_start = os.getloadavg()[0]
    progress(f"{args.count:,} executions per drain; backlogs {backlogs} (MariaDB "
             f"{mysql_backlogs}); raw loops {raw_loops}; worker venvs "
             f"{report['venvs']}; parts {sorted(parts)}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for dialect in args.databases.split(","):
            options = Options(
                count=args.count, pool_size=args.pool_size, raw_loops=raw_loops,
                backlogs=mysql_backlogs if dialect == "mysql" else backlogs, venvs=venvs,
                parts=parts, max_drain_seconds=args.max_drain_seconds,
                latency_seconds=args.latency_seconds, latency_workers=args.latency_workers,
                idle_seconds=args.idle_seconds, log_level=args.log_level,
                profile=args.profile, profile_rate=args.profile_rate,
                profile_count=args.profile_count or max(args.count, 10_000),
                repeat=args.repeat)
            with fresh_database(dialect, folder, pool_size=20,
                                busy_timeout_seconds=30) as (spec, url):
                bench = DatabaseBench(dialect, spec, url, folder, options)
                try:
                    report["results"].append(bench.run())
                finally:
                    bench.close()
            progress(f"{dialect}: done in {report['results'][-1]['seconds']:.0f} s")
    report["meta"] = {"date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
                      "host": platform.node(), "cores": os.cpu_count(),
                      "seconds": time.monotonic() - started,
                      "load_average": [load_start, os.getloadavg()[0]],
                      "command": " ".join(sys.argv)}
    report["summary"] = summary(report)
    text = markdown(report)
    print(text, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    progress(f"done in {report['meta']['seconds'] / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
