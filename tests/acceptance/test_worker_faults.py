"""The real `jobu worker` under faults: signals mid-run, SIGKILL chaos, a crashing PostgreSQL.

Issue 9, "Tests that prove it". Each test runs `jobu worker` processes against a fresh
database (the conftest's, or, for the PostgreSQL restarts, a private cluster the test starts
itself) and checks, from the database and the workers' logs, that no outcome is lost, none
is recorded twice and no row is left RUNNING:

* a busy worker stopped with SIGTERM or SIGINT records every outcome its log reports and
  leaves nothing RUNNING, on each database;
* three workers, one of them killed with SIGKILL every 2-5 s for a minute and replaced, with
  no dispatcher running: every execution ends SUCCESS exactly once, its side effect written,
  nothing left RUNNING once the leases expire (the workers take expired leases back
  themselves). A random seed, printed, replays the kills: JOBU_TEST_CHAOS_SEED=<seed>;
* PostgreSQL restarted with `pg_ctl restart -m immediate` three times under two busy
  workers: no worker exits, every execution ends SUCCESS, and no row stays RUNNING past one
  lease.

What a worker logs is read by one function, :func:`logged_endings`; adapt it, and only it,
when the worker's wording changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jobu.errors import DatabaseError
from jobu.model import DatabaseSpec, NewExecution
from jobu.store import Store, open_store
from tests.conftest import spec_url
from tests.servers import in_ci, wait_until
from tests.support.pgcluster import PgCluster, cannot_run_reason, postgres_bin_dir
from tests.support.processes import WorkerProcess, WorkerSite

pytestmark = pytest.mark.acceptance

REPO = Path(__file__).resolve().parents[2]
CHAOS_TREE = REPO / "tests" / "support" / "handler_trees" / "chaos"

ON_EACH_DATABASE = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]

#: worker.yaml of these tests, before each test's own settings.
BASE_WORKER_YAML = {"pool_size": 4, "poll_interval_seconds": 0.2, "lease_seconds": 30,
                    "heartbeat_interval_seconds": 2, "shutdown_timeout_seconds": 5,
                    "log_level": "INFO"}


# --- what the worker's log says ---------------------------------------------------------------

#: A line that reports an execution's attempt ended in SUCCESS. Today (jobu/executor.py,
#: Executor.settle): "INFO execution 4711 (noop) attempt 1/1 ended after 0.001s: SUCCESS".
_SUCCESS = re.compile(r"\bexecution (\d+)\b.*\bSUCCESS\b")
#: ... and one that says an unfinished attempt was handed back at shutdown.
_HANDED_BACK = re.compile(r"\bexecution (\d+)\b.*\bhanded back\b")
#: Lines that name an outcome without reporting that it happened ("lost its lease before its
#: outcome (SUCCESS) was written", "finished after it was ended (SUCCESS); … discarded").
_NOT_AN_ENDING = ("lost", "not written", "not recorded", "discarded", "kept until")


def logged_endings(log: str) -> dict[int, str]:
    """Execution id -> "SUCCESS" or "handed back", as the worker's log reports each ending.

    The one place that knows the wording of the worker's log lines (loosely: an execution id
    and SUCCESS on one line); adapt it when the wording changes. A later line for an id wins.
    """
    endings: dict[int, str] = {}
    for line in log.splitlines():
        if any(word in line for word in _NOT_AN_ENDING):
            continue
        if match := _SUCCESS.search(line):
            endings[int(match.group(1))] = "SUCCESS"
        elif match := _HANDED_BACK.search(line):
            endings[int(match.group(1))] = "handed back"
    return endings


# --- running workers ------------------------------------------------------------------------

@pytest.fixture
def worker_site(tmp_path) -> Iterator[Callable[[str], WorkerSite]]:
    """A factory: worker_site(database_url) -> WorkerSite."""
    sites: list[WorkerSite] = []

    def make(database_url: str) -> WorkerSite:
        site = WorkerSite(tmp_path, database_url, BASE_WORKER_YAML)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.kill_all()


# --- reading the database -------------------------------------------------------------------

def enqueue(store: Store, news: list[NewExecution], chunk: int = 1000) -> None:
    for start in range(0, len(news), chunk):
        store.execution_insert_many(news[start:start + chunk])


def status_counts(store: Store) -> Counter[str]:
    """How many executions are in each status."""
    found = store.database.run(lambda conn: conn.fetch_all(
        "SELECT status, COUNT(*) AS n FROM job_executions GROUP BY status"), write=False)
    return Counter({row["status"]: int(row["n"]) for row in found})


def status_counts_or_none(store: Store) -> Counter[str] | None:
    """status_counts, or None while the database is unavailable (a server restarting)."""
    try:
        return status_counts(store)
    except DatabaseError:
        return None


@dataclass(frozen=True)
class Row:
    status: str
    attempt: int
    result: Any


def every_row(store: Store) -> dict[int, Row]:
    found = store.database.run(lambda conn: conn.fetch_all(
        "SELECT id, status, attempt, result FROM job_executions"), write=False)
    return {int(r["id"]): Row(r["status"], int(r["attempt"]),
                              json.loads(r["result"]) if r["result"] else None)
            for r in found}


def error_counts(store: Store) -> Counter[int]:
    """Execution id -> how many of its attempts ended with an error (execution_errors)."""
    found = store.database.run(lambda conn: conn.fetch_all(
        "SELECT execution_id, COUNT(*) AS n FROM execution_errors GROUP BY execution_id"),
        write=False)
    return Counter({int(r["execution_id"]): int(r["n"]) for r in found})


def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
             describe: Callable[[], str], interval: float = 0.1) -> Any:
    """wait_until, with `describe()` (the workers' logs, read when it fails) in the failure."""
    try:
        return wait_until(predicate, timeout, interval, message=what)
    except AssertionError as error:
        pytest.fail(f"{error}\n{describe()}", pytrace=False)


def wait_registered(store: Store, worker: WorkerProcess, describe: Callable[[], str]) -> None:
    """Wait until `worker` has its row in `workers` (then it handles SIGTERM: a worker signalled
    while it still imports its modules dies of the signal, as any process does)."""
    def registered() -> bool:
        if not worker.alive():
            pytest.fail(f"worker {worker.pid} exited {worker.process.returncode}\n{describe()}",
                        pytrace=False)
        return any(info.pid == worker.pid for info in store.worker_list())
    wait_for(registered, 30, f"worker {worker.pid} to register", describe)


def sample(items: Any, n: int = 10) -> list:
    return sorted(items)[:n]


def wait_for_counts(store: Store, done: Callable[[Counter[str]], bool], what: str, *,
                    stall_seconds: float, limit_seconds: float, describe: Callable[[], str],
                    check: Callable[[], None] = lambda: None) -> float:
    """Wait until `done(status_counts)`; the seconds it took.

    Fails when the counts per status stop changing for `stall_seconds` (work is stranded:
    rows RUNNING that nobody runs or takes back) or after `limit_seconds` in all. `check` runs
    at every poll (e.g. to fail at once when a worker exits). While the database is
    unavailable (a server restarting) the counts count as unchanged.
    """
    started = time.monotonic()
    last: Counter[str] | None = None
    changed_at = started
    while True:
        check()
        counts = status_counts_or_none(store)
        now = time.monotonic()
        if counts is not None and done(counts):
            return now - started
        if counts is not None and counts != last:
            last, changed_at = counts, now
        if now - changed_at > stall_seconds:
            pytest.fail(f"waiting for {what}: no change for {stall_seconds:g}s, "
                        f"{dict(last or {})}\n{describe()}", pytrace=False)
        if now - started > limit_seconds:
            pytest.fail(f"waiting for {what}: not done after {limit_seconds:g}s, "
                        f"{dict(last or {})}\n{describe()}", pytrace=False)
        time.sleep(0.25)


def all_success(total: int) -> Callable[[Counter[str]], bool]:
    return lambda counts: counts["SUCCESS"] == total


# --- 1. SIGTERM and SIGINT of a busy worker -----------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("dialect", ON_EACH_DATABASE)
def test_a_busy_worker_stopped_by_a_signal_records_every_outcome_it_logged(
        worker_site, store, db_spec, signum):
    """SIGTERM (systemctl stop) or SIGINT (Ctrl-C) of a worker draining 20,000 no-op jobs:
    it exits 0, leaves no row RUNNING, and every execution its log reports as ended SUCCESS
    is SUCCESS in the database (and every one it reports handed back is waiting again)."""
    total, before_signal = 20_000, 1000
    site = worker_site(spec_url(db_spec))
    site.write_worker_yaml()
    enqueue(store, [NewExecution("noop") for _ in range(total)])
    worker = site.start_worker()

    def busy() -> bool:
        if not worker.alive():
            pytest.fail(f"the worker exited {worker.process.returncode}\n{site.logs()}",
                        pytrace=False)
        return status_counts(store)["SUCCESS"] >= before_signal
    wait_for(busy, 180, f"{before_signal} executions to succeed", site.logs)
    worker.signal(signum)
    exit_code = worker.wait_exit(60)

    counts = status_counts(store)
    statuses = {i: row.status for i, row in every_row(store).items()}
    endings = logged_endings(worker.log)
    logged_success = {i for i, how in endings.items() if how == "SUCCESS"}
    handed_back = {i for i, how in endings.items() if how == "handed back"}
    assert len(logged_success) >= before_signal, (
        f"the log reports {len(logged_success)} SUCCESS endings, the database had "
        f"{before_signal}: adapt logged_endings() to the worker's log lines\n{site.logs()}")
    not_recorded = {i: statuses.get(i) for i in logged_success if statuses.get(i) != "SUCCESS"}
    not_back = {i: statuses.get(i) for i in handed_back
                if statuses.get(i) not in ("PENDING", "RETRY")}
    print(f"\n{store.dialect} {signum.name}: exit {exit_code}, {dict(counts)}; the log "
          f"reports {len(logged_success)} SUCCESS and {len(handed_back)} handed back")
    problems = []
    if exit_code != 0:
        problems.append(f"exit code {exit_code}, not 0")
    if counts["RUNNING"]:
        problems.append(f"{counts['RUNNING']} rows left RUNNING")
    if not_recorded:
        problems.append(f"{len(not_recorded)} of the {len(logged_success)} executions the log "
                        f"reports ended SUCCESS are not SUCCESS in the database, e.g. "
                        f"{[(i, not_recorded[i]) for i in sample(not_recorded)]}")
    if not_back:
        problems.append(f"{len(not_back)} executions the log reports handed back are not "
                        f"waiting, e.g. {[(i, not_back[i]) for i in sample(not_back)]}")
    assert not problems, "; ".join(problems) + f"\n{site.logs()}"


# --- 2. chaos: SIGKILL a random worker every few seconds, no dispatcher ------------------------

CHAOS_SECONDS = 60
CHAOS_WORKERS = 3
CHAOS_JOBS = 10_000
CHAOS_LEASE_SECONDS = 5  # worker.yaml's minimum
#: Enough attempts for an execution caught by every kill of the run.
CHAOS_MAX_RETRY = 50


def chaos_seed() -> int:
    chosen = os.environ.get("JOBU_TEST_CHAOS_SEED")
    return int(chosen) if chosen else random.SystemRandom().randrange(2**32)


def side_effects(path: Path) -> dict[int, set[tuple[int, str]]]:
    """Execution id -> the (attempt, run token) of every run that wrote its line."""
    runs: dict[int, set[tuple[int, str]]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            execution_id, attempt, _pid, token = line.split()
            runs.setdefault(int(execution_id), set()).add((int(attempt), token))
    return runs


class TestRescuer:
    """Takes back expired leases from the test process, as a dispatcher's maintenance pass
    does. Only with JOBU_TEST_CHAOS_RESCUER=1: to check the chaos test's own bookkeeping
    against a worker that cannot rescue by itself; never in a real run of the test."""

    __test__ = False

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rescued = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-rescuer", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(DatabaseError):
                self.rescued += len(self.store.execution_rescue_expired(500))

    def __enter__(self) -> TestRescuer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ON_EACH_DATABASE)
def test_chaos_sigkill_a_random_worker_every_few_seconds_and_nothing_is_lost(
        worker_site, store, db_spec, tmp_path):
    """Three workers of four threads drain 10,000 jobs that each append a line to a file,
    while for a minute one worker, picked at random, is killed with SIGKILL every 2-5 s and
    a new one started; no dispatcher runs. At the end every execution is SUCCESS exactly
    once (its last attempt the one whose result is recorded, every earlier attempt ended by
    a recorded error: none succeeded twice), its side effect is in the file, nothing is
    left RUNNING once the leases have expired (the workers rescue them), and the last
    workers exit 0 on SIGTERM. Jobs may run more than once (at least once)."""
    seed = chaos_seed()
    rng = random.Random(seed)
    replay = f"chaos seed {seed} (replay with JOBU_TEST_CHAOS_SEED={seed})"
    print(f"\n{store.dialect}: {replay}")
    effects = tmp_path / "side-effects.log"
    site = worker_site(spec_url(db_spec))
    site.write_worker_yaml(lease_seconds=CHAOS_LEASE_SECONDS, heartbeat_interval_seconds=1,
                   shutdown_timeout_seconds=5, handler_paths=[str(CHAOS_TREE)])
    # 40-110 ms of work per job: a kill finds jobs running, not only claimed, and twelve
    # threads need the whole minute of chaos for the 10,000 (however fast the worker is).
    enqueue(store, [NewExecution("append_run", {"file": str(effects),
                                                "seconds": round(rng.uniform(0.04, 0.11), 3)},
                                 max_retry=CHAOS_MAX_RETRY, retry_backoff_seconds=0)
                    for _ in range(CHAOS_JOBS)])

    def describe() -> str:
        return f"{replay}\n{site.logs(tail=2500)}"

    rescuer = TestRescuer(store) if os.environ.get("JOBU_TEST_CHAOS_RESCUER") == "1" else None
    started = time.monotonic()
    live = [site.start_worker() for _ in range(CHAOS_WORKERS)]

    def all_alive() -> None:
        for worker in live:
            if not worker.alive():
                pytest.fail(f"worker {worker.pid} exited {worker.process.returncode} without "
                            f"being killed\n{describe()}", pytrace=False)

    with rescuer or contextlib.nullcontext():
        kills = []
        chaos_ends = started + CHAOS_SECONDS
        for _ in range(CHAOS_SECONDS):  # at least 2 s apart: a bounded loop
            next_kill = time.monotonic() + rng.uniform(2, 5)
            if next_kill >= chaos_ends:
                break
            while time.monotonic() < next_kill:  # the chaos schedule, not a synchronisation
                all_alive()
                time.sleep(0.1)
            victim = live.pop(rng.randrange(len(live)))
            victim.process.kill()
            assert victim.wait_exit(10) == -signal.SIGKILL
            kills.append((round(time.monotonic() - started, 1), victim.pid,
                          status_counts(store)["SUCCESS"]))
            live.append(site.start_worker())
        print(f"{store.dialect}: {len(kills)} workers killed (seconds, pid, SUCCESS so far): "
              f"{kills}")

        took = wait_for_counts(store, all_success(CHAOS_JOBS), f"all {CHAOS_JOBS} SUCCESS",
                               stall_seconds=CHAOS_LEASE_SECONDS * 3 + 5, limit_seconds=120,
                               describe=describe, check=all_alive)
    print(f"{store.dialect}: all {CHAOS_JOBS} SUCCESS {time.monotonic() - started:.1f}s after "
          f"the start ({took:.1f}s after the chaos)"
          + (f"; the test's rescuer took back {rescuer.rescued}" if rescuer else ""))
    for worker in live:
        wait_registered(store, worker, describe)
        assert worker.stop(timeout=30) == 0, describe()

    rows = every_row(store)
    errors = error_counts(store)
    runs = side_effects(effects)
    assert len(rows) == CHAOS_JOBS
    problems = []
    not_success = {i for i, row in rows.items() if row.status != "SUCCESS"}
    if not_success:
        problems.append(f"{len(not_success)} not SUCCESS, e.g. {sample(not_success)}")
    other_attempt = {i for i, row in rows.items()
                     if not isinstance(row.result, dict) or row.result["attempt"] != row.attempt}
    if other_attempt:
        problems.append(f"{len(other_attempt)} whose recorded result is not their last "
                        f"attempt's, e.g. {[(i, rows[i]) for i in sample(other_attempt, 3)]}")
    twice = {i: (row.attempt, errors[i]) for i, row in rows.items()
             if errors[i] != row.attempt - 1}
    if twice:
        problems.append(f"{len(twice)} whose earlier attempts did not each end with a recorded "
                        f"error (attempt, errors): e.g. {[(i, twice[i]) for i in sample(twice)]}")
    no_effect = {i for i, row in rows.items() if isinstance(row.result, dict)
                 and (row.result["attempt"], row.result["token"]) not in runs.get(i, set())}
    if no_effect:
        problems.append(f"{len(no_effect)} SUCCESS without the side effect of the run that "
                        f"succeeded, e.g. {sample(no_effect)}")
    ran_again = sum(1 for lines in runs.values() if len(lines) > 1)
    rescued = sum(1 for row in rows.values() if row.attempt > 1)
    print(f"{store.dialect}: {rescued} executions needed more than one attempt, {ran_again} "
          f"wrote their side effect more than once")
    assert not problems, "; ".join(problems) + f"\n{replay}"


# --- 3. PostgreSQL restarted with -m immediate ------------------------------------------------

@pytest.fixture
def private_postgres() -> Iterator[PgCluster]:
    """A PostgreSQL cluster of the test's own (never the shared server), removed at the end."""
    reason = cannot_run_reason()
    if reason is not None:
        reason = f"cannot start a private PostgreSQL cluster: {reason}"
        if in_ci():
            pytest.fail(f"{reason}. CI=true, so this is a failure, not a skip.", pytrace=False)
        pytest.skip(reason)
    cluster = PgCluster(postgres_bin_dir())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


RESTARTS = 3
RESTART_LEASE_SECONDS = 5
#: Executions that succeed between two restarts (a few seconds of work for two workers).
BETWEEN_RESTARTS = 400


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_restarted_immediately_three_times_under_busy_workers(
        private_postgres, worker_site):
    """Two workers of four threads run 3,000 jobs (half no-op, half sleeping 50-200 ms)
    while their PostgreSQL is restarted with `pg_ctl restart -m immediate` three times:
    neither worker exits, every execution ends SUCCESS (no outcome lost), once the queue is
    drained no row stays RUNNING for longer than a lease (with the workers still running),
    and both workers exit 0 on SIGTERM."""
    cluster = private_postgres
    total = 3000
    spec = DatabaseSpec(name="jobs", driver="postgres", host=cluster.host, port=cluster.port,
                        user=cluster.user, password="", dbname=cluster.dbname, pool_size=4,
                        pool_timeout_seconds=2, connect_timeout_seconds=1)
    store = open_store(spec)
    try:
        store.migrate()
        rng = random.Random()
        # Attempts to spare: a claim that was committed but never run is taken back as a
        # failed attempt, and must not end the execution.
        enqueue(store, [NewExecution("noop", max_retry=5) if n % 2 else
                        NewExecution("sleep", {"seconds": round(rng.uniform(0.05, 0.2), 3)},
                                     max_retry=5)
                        for n in range(total)])
        _restart_scenario(cluster, store, worker_site(cluster.url), total)
    finally:
        store.close()


def _restart_scenario(cluster: PgCluster, store: Store, site: WorkerSite, total: int) -> None:
    site.write_worker_yaml(lease_seconds=RESTART_LEASE_SECONDS, heartbeat_interval_seconds=1,
                   shutdown_timeout_seconds=5)
    site.tune_database(pool_timeout_seconds=2, connect_timeout_seconds=1)
    workers = [site.start_worker(), site.start_worker()]

    def describe() -> str:
        return f"{site.logs(tail=3000)}\n{cluster.logs()}"

    def both_alive() -> None:
        for worker in workers:
            if not worker.alive():
                pytest.fail(f"worker {worker.pid} exited {worker.process.returncode}\n"
                            f"{describe()}", pytrace=False)

    def succeeded_since(floor: int) -> int | None:
        """The SUCCESS count once it is BETWEEN_RESTARTS above `floor` (work done since)."""
        both_alive()
        counts = status_counts_or_none(store)
        if counts is None or counts["SUCCESS"] < floor + BETWEEN_RESTARTS:
            return None
        return counts["SUCCESS"]

    done = 0
    for restart in range(1, RESTARTS + 1):
        # Restart while the workers are busy, once they have done some work since the last.
        done = wait_for(lambda floor=done: succeeded_since(floor), 60,
                        f"{BETWEEN_RESTARTS} more executions to succeed before restart "
                        f"{restart}", describe)
        cluster.restart_immediate()
        print(f"\nrestart {restart}: after {done} SUCCESS")

    wait_for_counts(store, lambda counts: counts["PENDING"] + counts["RETRY"] == 0,
                    "the queue to drain", stall_seconds=RESTART_LEASE_SECONDS * 3 + 10,
                    limit_seconds=180, describe=describe, check=both_alive)
    # Drained: a row still RUNNING now is a short job about to end, or a claim nobody runs,
    # which must be taken back once its lease (at most one, renewed by nobody) runs out.
    running = {i for i, row in every_row(store).items() if row.status == "RUNNING"}
    print(f"drained; {len(running)} RUNNING: {sample(running)}")
    wait_for_counts(store, lambda counts: counts["RUNNING"] == 0,
                    "no row RUNNING, one lease after the queue drained",
                    stall_seconds=RESTART_LEASE_SECONDS + 10,
                    limit_seconds=RESTART_LEASE_SECONDS + 10, describe=describe,
                    check=both_alive)
    wait_for_counts(store, all_success(total), f"all {total} SUCCESS",
                    stall_seconds=RESTART_LEASE_SECONDS + 10, limit_seconds=60,
                    describe=describe, check=both_alive)
    for worker in workers:
        assert worker.alive()
        assert worker.stop(timeout=30) == 0, describe()
    counts = status_counts(store)
    assert counts == Counter({"SUCCESS": total}), f"{dict(counts)}\n{describe()}"
