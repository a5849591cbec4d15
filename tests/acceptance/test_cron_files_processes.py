"""crons.yaml and calendars.yaml with the real `jobu dispatcher`: applied at start and on
SIGHUP, on each database.

A cron added by the file ticks; a change is applied in place on SIGHUP (same id, history
kept); `jobu cron edit` refuses it, naming the file; a broken file on SIGHUP is logged and
the crons stay as they were; a cron that left the file is disabled, not deleted. A broken
file at start: exit 78. A calendar of calendars.yaml, applied by two dispatchers at once,
turns its holidays' ticks SKIPPED; changed on SIGHUP, the cron that names it runs again;
`jobu calendar add` refuses it, naming the file; once it leaves the file it is kept while a
cron names it.
"""

from __future__ import annotations

import signal
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from jobu.model import ExecutionFilter, Status
from tests.acceptance.test_dispatcher_processes import JOBU, Site, quietly
from tests.conftest import spec_url
from tests.servers import wait_until

pytestmark = pytest.mark.acceptance


@pytest.fixture
def site(tmp_path, store, db_spec):
    site = Site(tmp_path, store, spec_url(db_spec))
    yield site
    for dispatcher in site.dispatchers:
        if dispatcher.alive():
            dispatcher.process.kill()
            dispatcher.process.wait(10)


def write_crons(site: Site, text: str | None = None, **crons: dict) -> None:
    path = site.config_dir / "crons.yaml"
    path.write_text(text if text is not None else yaml.safe_dump({"crons": crons}))


def write_calendars(site: Site, **calendars: dict) -> None:
    path = site.config_dir / "calendars.yaml"
    path.write_text(yaml.safe_dump({"calendars": calendars}))


def cron_where(site: Site, name: str, condition, what: str):
    """The cron once `condition(cron)` holds; the test fails after 30 s."""
    def check():
        crons = {c.name: c for c in quietly(site.store.cron_list) or []}
        cron = crons.get(name)
        return cron if cron is not None and condition(cron) else None
    return wait_until(check, 30, interval=0.1, message=f"{what}\n{site.logs()}")


def executions_of(site: Site, job_id: int) -> int:
    return len(site.store.execution_list(ExecutionFilter(job_id=job_id), limit=10_000).items)


def test_added_changed_refused_kept_and_disabled_through_sighup(site):
    write_crons(site, tick={"schedule": "* * * * * *", "handler": "noop"})
    dispatcher = site.start()

    cron = cron_where(site, "tick", lambda c: True, "the cron of crons.yaml added")
    # The file's mark is written just after the cron (cron_files._apply_one): wait for it.
    wait_until(lambda: site.store.cron_managed_by("tick") == str(site.config_dir / "crons.yaml"),
               30, interval=0.05, message=f"the cron marked as the file's\n{site.logs()}")
    wait_until(lambda: executions_of(site, cron.id) >= 2, 30, interval=0.1,
               message=f"the file's cron ticking\n{site.logs()}")

    write_crons(site, tick={"schedule": "*/2 * * * * *", "handler": "noop", "max_retry": 1})
    dispatcher.signal(signal.SIGHUP)
    changed = cron_where(site, "tick", lambda c: c.schedule == "*/2 * * * * *",
                         "the change applied on SIGHUP")
    assert (changed.id, changed.max_retry) == (cron.id, 1)
    history = executions_of(site, cron.id)
    assert history >= 2  # kept with the cron

    edit = subprocess.run([str(JOBU), "cron", "edit", "tick", "--schedule", "0 3 * * *"],
                          env=site.env, capture_output=True, text=True, timeout=60)
    assert edit.returncode == 1, edit
    assert f"cron 'tick' is managed by {site.config_dir / 'crons.yaml'}" in edit.stderr

    write_crons(site, "crons:\n  tick:\n    schedule: '0 61 * * *'\n    handler: noop\n")
    dispatcher.signal(signal.SIGHUP)
    wait_until(lambda: "reload refused: crons.yaml: crons.tick.schedule (line 3)"
               in dispatcher.log, 30, interval=0.1, message=f"the refusal\n{site.logs()}")
    assert dispatcher.alive()
    kept = site.store.cron_get("tick")
    assert (kept.schedule, kept.is_enabled) == ("*/2 * * * * *", True)

    write_crons(site)
    dispatcher.signal(signal.SIGHUP)
    gone = cron_where(site, "tick", lambda c: not c.is_enabled, "the cron disabled on SIGHUP")
    assert gone.id == cron.id
    wait_until(lambda: site.store.cron_managed_by("tick") is None, 30, interval=0.05,
               message=f"the file's mark taken off\n{site.logs()}")
    assert executions_of(site, cron.id) >= history
    assert dispatcher.stop() == 0, site.logs()


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_a_broken_file_at_start_exits_78_naming_file_key_and_line(site):
    write_crons(site, "crons:\n  nightly:\n    handler: noop\n")
    dispatcher = site.start()
    assert dispatcher.wait_exit(60) == 78, dispatcher.log
    assert "crons.yaml: crons.nightly.schedule (line 2): is required" in dispatcher.log
    assert site.store.cron_list() == []


def test_a_calendar_of_the_files_shapes_ticks_and_follows_sighup(site):
    # Today and tomorrow (UTC) are holidays, so that midnight during the test changes nothing.
    today = datetime.now(UTC).date()
    closed = [{"date": day.isoformat(), "name": "Closing days"}
              for day in (today, today + timedelta(days=1))]
    write_calendars(site, ops={"weekend": "none", "timezone": "UTC", "days": closed})
    write_crons(site, tick={"schedule": "* * * * * *", "handler": "noop", "timezone": "UTC",
                            "calendar": "ops"})
    dispatchers = [site.start(), site.start()]  # both apply the files at start
    for dispatcher in dispatchers:
        # Registered: its SIGHUP handler is in place (before it, SIGHUP's default ends it).
        site.wait_registered(dispatcher)

    cron = cron_where(site, "tick", lambda c: True, "the cron of crons.yaml added")
    source = str(site.config_dir / "calendars.yaml")
    wait_until(lambda: site.store.calendar_managed() == {"ops": source}, 30, interval=0.05,
               message=f"the calendar marked as the file's\n{site.logs()}")

    def rows(status: Status) -> list:
        found = site.store.execution_list(ExecutionFilter(job_id=cron.id), limit=10_000).items
        return [row for row in found if row.status is status]
    skipped = wait_until(lambda: rows(Status.SKIPPED), 30, interval=0.1,
                         message=f"a tick skipped on the holiday\n{site.logs()}")
    assert skipped[0].error_message.endswith("is a holiday in calendar ops: Closing days")
    assert rows(Status.PENDING) == []
    assert all(d.alive() for d in dispatchers), site.logs()

    write_calendars(site, ops={"weekend": "none", "timezone": "UTC"})
    for dispatcher in dispatchers:
        dispatcher.signal(signal.SIGHUP)
    wait_until(lambda: rows(Status.PENDING), 30, interval=0.1,
               message=f"the cron running once the holidays left the file\n{site.logs()}")
    assert site.store.calendar_get("ops").holidays == {}

    add = subprocess.run([str(JOBU), "calendar", "add", "ops", "--day", "2030-01-01"],
                         env=site.env, capture_output=True, text=True, timeout=60)
    assert add.returncode == 1, add
    assert f"calendar 'ops' is managed by {source}" in add.stderr

    write_calendars(site)
    for dispatcher in dispatchers:
        dispatcher.signal(signal.SIGHUP)
    wait_until(lambda: site.store.calendar_managed() == {}, 30, interval=0.05,
               message=f"the file's mark taken off\n{site.logs()}")
    wait_until(lambda: "calendar ops left the calendar files but is kept: cron tick still "
               "names it" in site.logs(), 30, interval=0.1, message=site.logs())
    assert site.store.calendar_get("ops").weekend == frozenset()
    assert all(dispatcher.stop() == 0 for dispatcher in dispatchers), site.logs()
