"""The real `jobu dispatcher` executable, as systemd runs it, against each database.

Each test copies the shipped etc/jobu, lowers min_cron_interval_seconds to 1 so that
crons may tick every second, points JOBU_DATABASE_URL at the test's fresh database
and starts `jobu dispatcher` as a subprocess. What the dispatchers did is read back
from the database through jobu.store; each process's output goes to a log file
that a failing test prints.

The exactly-once test runs under 20 s per database: 20 crons ticking every second
give its 200+ ticks in that time.
"""

from __future__ import annotations

import math
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from jobu.errors import DatabaseError
from jobu.model import CronSpec, ExecutionFilter, NewExecution, Status
from jobu.store import Store
from tests.conftest import spec_url
from tests.servers import wait_until
from tests.support.notify import NotifySocket
from tests.support.processes import DaemonProcess, daemon_environment
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.acceptance

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
JOBU = Path(sys.executable).parent / "jobu"
#: The application_name the PostgreSQL connections of the dispatcher under test carry.
APP_NAME = "jobu-dispatcher-under-test"
DISPATCHED = re.compile(r"cron (\S+): tick (\S+ \S+) UTC dispatched as execution (\d+)")


# --- running dispatchers ------------------------------------------------------------------

class DispatcherProcess(DaemonProcess):
    """One `jobu dispatcher` subprocess and where its output goes."""

    command = "dispatcher"


@dataclass
class Site:
    """One test's configuration directory, environment and dispatchers."""

    tmp_path: Path
    store: Store
    database_url: str
    config_dir: Path = field(init=False)
    env: dict[str, str] = field(init=False)
    dispatchers: list[DispatcherProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config_dir, self.env = daemon_environment(self.tmp_path, self.database_url)
        self.write_dispatcher_yaml()

    def write_dispatcher_yaml(self, **settings: Any) -> None:
        values = {"min_cron_interval_seconds": 1, "poll_interval_seconds": 1, **settings}
        (self.config_dir / "dispatcher.yaml").write_text(yaml.safe_dump(values))

    def start(self, *args: str, env: dict[str, str] | None = None) -> DispatcherProcess:
        log_path = self.tmp_path / f"dispatcher-{len(self.dispatchers) + 1}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([str(JOBU), "dispatcher", *args],
                                       stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, cwd=self.tmp_path,
                                       env={**self.env, **(env or {})})
        dispatcher = DispatcherProcess(process, log_path)
        self.dispatchers.append(dispatcher)
        return dispatcher

    def wait_registered(self, dispatcher: DispatcherProcess, timeout: float = 30) -> str:
        def registered() -> str | None:
            if not dispatcher.alive():
                pytest.fail(f"jobu dispatcher exited {dispatcher.process.returncode}\n"
                            f"{dispatcher.log}")
            rows = quietly(self.store.worker_list) or []
            return next((w.id for w in rows if w.pid == dispatcher.pid), None)
        return wait_until(registered, timeout, interval=0.05,
                          message=f"jobu dispatcher {dispatcher.pid} to register")

    def every_second_crons(self, count: int) -> list[int]:
        return [self.store.cron_create(CronSpec(
            name=f"tick-{n:02d}", schedule="* * * * * *", handler_name="noop",
            allow_overlap=n % 2 == 0)).id for n in range(count)]

    def wait_ticks(self, seconds: int, timeout: float = 60) -> None:
        """Until every enabled cron has evaluated its tick `seconds` after it was created."""
        def reached() -> bool:
            crons = quietly(self.store.cron_list) or []
            return bool(crons) and all(
                c.last_tick_at is not None
                and c.last_tick_at >= c.updated_at + timedelta(seconds=seconds)
                for c in crons if c.is_enabled)
        wait_until(reached, timeout, interval=0.1, message=f"{seconds} s of ticks\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {d.log_path.name} (pid {d.pid}, exit {d.process.poll()})\n"
                         f"{d.log}" for d in self.dispatchers)

    def stop_all(self) -> None:
        for dispatcher in self.dispatchers:
            if dispatcher.alive():
                dispatcher.process.send_signal(signal.SIGTERM)
        for dispatcher in self.dispatchers:
            dispatcher.wait_exit(10)


def quietly(call: Callable[[], T]) -> T | None:
    """`call()`, or None while the database is away (tests that cut it poll through this)."""
    try:
        return call()
    except DatabaseError:
        return None


@pytest.fixture
def site(tmp_path, store, db_spec):
    store.database.pool.ping_after_idle = 0  # notice at once a connection a test killed
    site = Site(tmp_path, store, spec_url(db_spec))
    yield site
    for dispatcher in site.dispatchers:
        if dispatcher.alive():
            dispatcher.process.kill()
            dispatcher.process.wait(10)


def assert_every_tick_has_one_row(store: Store) -> int:
    """Each cron's rows are exactly its ticks, every second from creation to its last tick."""
    total = 0
    for cron in store.cron_list():
        rows = store.execution_list(ExecutionFilter(job_id=cron.id), limit=10_000).items
        times = sorted(row.scheduled_time for row in rows)
        first = datetime.fromtimestamp(math.floor(cron.updated_at.timestamp()) + 1,
                                       cron.updated_at.tzinfo)
        span = int((cron.last_tick_at - first).total_seconds())
        expected = [first + timedelta(seconds=n) for n in range(span + 1)]
        assert times == expected, (cron.name, sorted(set(expected) - set(times)),
                                   [t for t in set(times) if times.count(t) > 1])
        assert Status.MISSED not in {row.status for row in rows}, cron.name
        if cron.allow_overlap:
            assert {row.status for row in rows} == {Status.PENDING}, cron.name
        total += len(rows)
    return total


# --- exactly once -------------------------------------------------------------------------


def test_three_dispatchers_one_killed_and_restarted_every_tick_exactly_once(site):
    site.every_second_crons(20)
    started = time.monotonic()
    for dispatcher in [site.start(), site.start(), site.start()]:
        site.wait_registered(dispatcher)
    site.wait_ticks(5)
    victim = site.dispatchers[0]
    victim.process.send_signal(signal.SIGKILL)
    assert victim.wait_exit(10) == -signal.SIGKILL
    site.wait_ticks(8)
    site.wait_registered(site.start())
    site.wait_ticks(14)
    site.stop_all()
    assert [d.process.returncode for d in site.dispatchers[1:]] == [0, 0, 0], site.logs()

    total = assert_every_tick_has_one_row(site.store)
    assert total >= 200, total
    # One log line per dispatched tick, naming the cron, the tick and the execution (a line
    # or two may be lost with the killed process, between its commit and its log write).
    logged = {int(match[2]) for match in DISPATCHED.findall(site.logs())}
    pending = {row.id for row in site.store.execution_list(
        ExecutionFilter(statuses=(Status.PENDING,)), limit=10_000).items}
    assert logged <= pending and len(pending - logged) <= 10
    print(f"{total} ticks, {time.monotonic() - started:.1f} s")


# --- systemd ------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_sd_notify_ready_watchdog_status_reload_and_stop(site):
    site.store.cron_create(CronSpec(name="jobu-report", schedule="0 3 * * *",
                                    handler_name="noop"))
    with NotifySocket() as notify:
        dispatcher = site.start(env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"})
        ready = notify.wait_for("READY=1")
        notify.wait_for_status(r"^1 cron, next tick jobu-report at .*03:00:00 UTC \(in \d+ s\)$")
        # WATCHDOG=1 at least twice per WatchdogSec (2 s here), while nothing else happens.
        wait_until(lambda: len(notify.times("WATCHDOG=1", ready)) >= 4, 10,
                   message="four WATCHDOG=1")
        beats = notify.times("WATCHDOG=1", ready)
        assert max(b - a for a, b in zip(beats, beats[1:], strict=False)) <= 1.5, beats

        (site.config_dir / "dispatcher.yaml").write_text("max_sleep_seconds: soon\n")
        reloaded = time.monotonic()
        dispatcher.process.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1", since=reloaded)
        notify.wait_for("READY=1", since=reloaded)
        wait_until(lambda: "reload refused" in dispatcher.log, 10, message="the refusal logged")
        assert "dispatcher.yaml" in dispatcher.log and "max_sleep_seconds" in dispatcher.log
        wait_until(lambda: notify.times("WATCHDOG=1", since=reloaded + 1.5), 10,
                   message="WATCHDOG=1 after the refused reload")
        assert dispatcher.alive()

        stop = time.monotonic()
        dispatcher.process.send_signal(signal.SIGTERM)
        assert dispatcher.wait_exit(5) == 0, dispatcher.log
        exited = time.monotonic() - stop
        notify.wait_for("STOPPING=1", since=stop)
    assert exited < 1.0, f"exited {exited:.2f} s after SIGTERM"
    assert site.store.worker_list() == []


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_a_bad_configuration_at_start_exits_78_naming_file_and_key(site):
    (site.config_dir / "dispatcher.yaml").write_text("poll_interval_seconds: -1\n")
    dispatcher = site.start()
    assert dispatcher.wait_exit(30) == 78
    assert re.search(r"dispatcher\.yaml.*poll_interval_seconds", dispatcher.log), dispatcher.log
    assert "Traceback" not in dispatcher.log


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_once_dispatches_due_ticks_runs_maintenance_and_exits(site):
    store = site.store
    now = store.database_now()
    job = store.cron_create(CronSpec(name="report", schedule="* * * * *", handler_name="noop"),
                            now=now - timedelta(minutes=3))
    lost = store.execution_insert(NewExecution("noop", run_after=now - timedelta(minutes=5)),
                                  now=now - timedelta(minutes=5))
    store.execution_claim("w-dead", ["default"], 1, 1, now=now - timedelta(minutes=5))
    dispatcher = site.start("--once")
    assert dispatcher.wait_exit(30) == 0, dispatcher.log
    rows = store.execution_list(ExecutionFilter(job_id=job.id)).items
    statuses = sorted(str(row.status) for row in rows)
    assert statuses == ["MISSED", "PENDING"], dispatcher.log  # catch_up: latest
    assert re.search(r"cron report: tick .* dispatched as execution \d+", dispatcher.log)
    rescued = store.execution_get(lost)
    assert rescued.status is Status.FAILED
    assert rescued.error_message.startswith("worker w-dead lost (lease expired at ")
    assert store.worker_list() == []


# --- the database going away --------------------------------------------------------------


def kill_connections(store: Store, dialect: str) -> int:
    """Kill the dispatcher's connections from an admin session; how many were killed."""
    if dialect == "postgres":
        def work(conn) -> int:
            rows = conn.fetch_all(
                "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity "
                "WHERE application_name = %(app)s AND pid <> pg_backend_pid()", {"app": APP_NAME})
            return len(rows)
        return store.database.run(work)

    def kill_mysql(conn) -> int:
        ids = [row["id"] for row in conn.fetch_all(
            "SELECT id FROM information_schema.processlist "
            "WHERE db = DATABASE() AND id <> CONNECTION_ID()")]
        for connection_id in ids:
            conn.execute(f"KILL {int(connection_id)}")
        return len(ids)
    return store.database.run(kill_mysql)


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["postgres", "mysql"], indirect=True)
def test_killed_connections_and_an_outage_are_survived_without_losing_a_tick(
        tmp_path, store, db_spec, dialect):
    store.database.pool.ping_after_idle = 0
    target = db_spec.host, db_spec.port
    proxy = TcpProxy(*target).start()
    url = spec_url(db_spec).replace(f"@{target[0]}:{target[1]}/", f"@{proxy.host}:{proxy.port}/")
    if dialect == "postgres":
        url += f"&application_name={APP_NAME}"
    site = Site(tmp_path, store, url)
    try:
        site.every_second_crons(4)
        dispatcher = site.start()
        site.wait_registered(dispatcher)
        site.wait_ticks(3)
        assert kill_connections(store, dialect) >= 1
        site.wait_ticks(6)
        proxy.cut()
        cut_at = time.monotonic()
        wait_until(lambda: "database unavailable" in dispatcher.log, 20,
                   message=f"the outage logged\n{dispatcher.log}")
        wait_until(lambda: time.monotonic() - cut_at > 3, 5)  # an outage of a few seconds
        proxy.restore()
        wait_until(lambda: "database available again" in dispatcher.log, 40,
                   message=f"the recovery logged\n{dispatcher.log}")
        site.wait_ticks(14)
        assert dispatcher.alive()
        site.stop_all()
        assert dispatcher.process.returncode == 0, dispatcher.log
    finally:
        for process in site.dispatchers:
            if process.alive():
                process.process.kill()
        proxy.close()
    # Each outage (the killed connections may cause a short one, the cut surely does) is
    # logged once when it starts and once when it ends, however many passes failed.
    recovered = [int(n) for n in re.findall(r"database available again after (\d+) failed",
                                            dispatcher.log)]
    assert dispatcher.log.count("database unavailable") == len(recovered) <= 2, dispatcher.log
    assert_every_tick_has_one_row(store)
