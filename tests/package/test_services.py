"""The installed services under systemd: readiness, cron runs, the journal, reload, extra pools,
draining stops, the watchdog, a bad configuration, jobu.target."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.package.conftest import CORE_SERVICES, UNITS, Container, wait_until

DAEMONS = [u.name for u in UNITS if u.daemon and u.enabled]


def test_ready_after_start_of_jobu_target(ct: Container) -> None:
    """From stopped, `systemctl start jobu.target` returns once each core service sent READY=1
    (Type=notify) with a STATUS= text."""
    ct.run(["systemctl", "stop", "jobu.target", *CORE_SERVICES], timeout=100)
    ct.start("jobu.target")
    for unit in CORE_SERVICES:
        assert ct.unit_state(unit) == "active/running", ct.why(unit)
        assert ct.unit_property(unit, "Type") == "notify"
        status = ct.unit_property(unit, "StatusText")
        gap = (int(ct.unit_property(unit, "ActiveEnterTimestampMonotonic"))
               - int(ct.unit_property(unit, "ExecMainStartTimestampMonotonic"))) / 1e6
        print(f"{unit}: active {gap:.2f}s after its start, status '{status}'")
        assert status, f"{unit} sent no STATUS="


@pytest.fixture(scope="session")
def cron_run(ct: Container) -> dict:
    """A one-shot cron 5 s ahead (handler noop), and its execution once it finished."""
    if any(ct.unit_state(u) != "active/running" for u in CORE_SERVICES):
        ct.start("jobu.target", *CORE_SERVICES)
    at = (datetime.now(UTC) + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ct.run(["jobu", "cron", "add", "e2e-noop", "--schedule", at, "--handler", "noop",
            "--params", '{"from": "e2e"}'])

    def newest():
        items = ct.jobu_json("jobs", "list", "--cron", "e2e-noop")["items"]
        return items[0]["id"] if items else None

    execution_id = str(wait_until(newest, 30, f"an execution of cron e2e-noop (tick {at})"))
    return ct.wait_finished(execution_id)


def test_cron_tick_runs_to_success(cron_run: dict) -> None:
    print(cron_run)
    assert cron_run["status"] == "SUCCESS", cron_run
    started = datetime.fromisoformat(cron_run["started_at"])
    scheduled = datetime.fromisoformat(cron_run["scheduled_time"])
    assert (started - scheduled).total_seconds() < 5


def _naming(text: str, execution_id: str, word: str) -> list[str]:
    return [line for line in text.splitlines()
            if re.search(rf"(^|[^0-9]){execution_id}([^0-9]|$)", line) and word in line]


def test_journal_of_dispatcher_names_cron_and_execution(ct: Container, cron_run: dict) -> None:
    lines = _naming(ct.journal("jobu-dispatcher.service"), str(cron_run["id"]), "e2e-noop")
    assert lines, ct.journal("jobu-dispatcher.service")[-2000:]
    print(lines[0])


def test_journal_of_worker_has_the_outcome_line(ct: Container, cron_run: dict) -> None:
    """One INFO line per job, once its outcome is committed."""
    lines = _naming(ct.journal("jobu-worker.service"), str(cron_run["id"]), "noop")
    ended = [line for line in lines if re.search(r"ended after .*: SUCCESS", line)]
    assert ended, ct.journal("jobu-worker.service")[-2000:]
    print(ended[0])


@pytest.mark.parametrize("unit", CORE_SERVICES)
def test_journal_lines_carry_no_timestamp(services_up: Container, unit: str) -> None:
    """journald adds the time: a line of jobu's must not start with one of its own."""
    lines = services_up.journal(unit, own_lines=True)
    assert lines.strip(), f"{unit} wrote nothing to the journal"
    stamped = [line for line in lines.splitlines()
               if re.match(r"\[?(\d{4}-\d{2}-\d{2}[ T]|\d{2}:\d{2}:\d{2})", line)]
    assert not stamped, stamped[:3]


@pytest.mark.parametrize("unit", CORE_SERVICES)
def test_reload_keeps_the_process(services_up: Container, unit: str) -> None:
    ct = services_up
    before = ct.unit_property(unit, "MainPID")
    ct.run(["systemctl", "reload", unit])
    time.sleep(0.5)
    assert ct.unit_property(unit, "MainPID") == before
    assert ct.unit_state(unit) == "active/running", ct.why(unit)


def test_template_worker_serves_its_own_queue(services_up: Container, config) -> None:
    """jobu-worker@e2e, set up as its unit's header says, runs executions of its queue."""
    ct, unit = services_up, "jobu-worker@e2e.service"
    worker_yaml = ct.out(["cat", "/etc/jobu/worker.yaml"])
    config.write("/etc/jobu/worker-e2e.yaml",
                 re.sub(r"(?m)^queues:\n  - default$", "queues:\n  - e2e", worker_yaml))
    try:
        ct.start(unit)
        [execution_id] = ct.enqueue("noop", "--queue", "e2e", "--params", '{"pool": "e2e"}')
        execution = ct.wait_finished(execution_id)
        assert execution["status"] == "SUCCESS", execution
        assert _naming(ct.journal(unit), execution_id, "noop"), ct.why(unit)
    finally:
        ct.run(["systemctl", "stop", unit], check=False, timeout=100)


def test_stop_drains_the_running_job(services_up: Container) -> None:
    """systemctl stop jobu-worker while a 5 s job runs: the job ends SUCCESS, the exit is clean."""
    ct, unit = services_up, "jobu-worker.service"
    [execution_id] = ct.enqueue("sleep", "--params", '{"seconds": 5}')
    wait_until(lambda: ct.execution(execution_id).get("status") == "RUNNING", 10,
               f"execution {execution_id} RUNNING")
    since = ct.cursor()
    started = time.monotonic()
    ct.run(["systemctl", "stop", unit], timeout=70)
    took = time.monotonic() - started
    journal = ct.journal(unit, since=since)
    print(f"stop took {took:.1f}s\n{journal}")
    try:
        # Once stopped, systemd may forget the unit's properties: is-active and the journal.
        assert ct.is_active(unit) == "inactive"
        assert not re.search(r"timed out|Killing|Failed with result|code=killed", journal), journal
        assert ct.execution(execution_id)["status"] == "SUCCESS"
        assert took >= 1.0, "the stop did not wait for the running job"
    finally:
        ct.start(unit)


def test_watchdog_restarts_a_wedged_worker(services_up: Container, config, dropin) -> None:
    """Every thread stuck past its timeout: WATCHDOG=1 stops, systemd kills and restarts."""
    ct, unit, watchdog = services_up, "jobu-worker.service", 6
    # pool_size 1; the worker replaces a stuck thread up to pool_size times, so two sleeps that
    # ignore their 1 s timeout wedge it.
    config.sed("/etc/jobu/worker.yaml", "s/^pool_size: .*/pool_size: 1/")
    dropin(unit, f"[Service]\nWatchdogSec={watchdog}s\n")
    ct.run(["systemctl", "restart", unit], timeout=100)
    pid, restarts = ct.unit_property(unit, "MainPID"), int(ct.unit_property(unit, "NRestarts"))
    since = ct.cursor()
    ct.enqueue("sleep", "--count", "2", "--params", '{"seconds": 120, "ignore_cancel": true}',
               "--timeout", "1")
    wait_until(lambda: int(ct.unit_property(unit, "NRestarts") or 0) > restarts
               and ct.unit_state(unit) == "active/running", watchdog + 25,
               f"{unit} restarted by its watchdog")
    journal = ct.journal(unit, since=since)
    print("\n".join(line for line in journal.splitlines()
                    if re.search(r"Watchdog|Killing|Failed with|Scheduled restart", line)))
    assert "Watchdog timeout" in journal
    assert "Failed with result 'watchdog'" in journal
    assert ct.unit_property(unit, "MainPID") != pid


def test_bad_config_exits_78_without_restart_loop(services_up: Container, config) -> None:
    ct, unit = services_up, "jobu-worker.service"
    config.append("/etc/jobu/worker.yaml", "\npool_sise: 2\n")
    since = ct.cursor()
    restarted = ct.run(["systemctl", "restart", unit], check=False, timeout=100)
    # RestartSec=5s: a restart loop would have started again by then.
    time.sleep(7)
    journal = ct.journal(unit, since=since)
    print(journal)
    assert restarted.returncode != 0
    assert ct.unit_property(unit, "ExecMainStatus") == "78", ct.why(unit)
    assert "worker.yaml" in journal and "pool_sise" in journal
    assert "Scheduled restart job" not in journal
    assert ct.unit_state(unit).startswith("failed/"), ct.why(unit)


def test_stop_of_jobu_target_stops_every_service(services_up: Container, config) -> None:
    ct = services_up
    worker_yaml = ct.out(["cat", "/etc/jobu/worker.yaml"])
    config.write("/etc/jobu/worker-e2e.yaml", worker_yaml)
    ct.start("jobu-worker@e2e.service")
    ct.run(["systemctl", "stop", "jobu.target"], timeout=100)
    for unit in [*CORE_SERVICES, "jobu-worker@e2e.service"]:
        wait_until(lambda u=unit: ct.is_active(u) == "inactive", 20, f"{unit} stopped")
    ct.start("jobu.target")
