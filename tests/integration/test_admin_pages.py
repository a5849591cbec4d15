"""The admin's pages on SQLite, PostgreSQL and MariaDB: each renders, and each action changes the
jobs database as the same operation does from the CLI.

Form errors are checked against the CLI: the same bad value typed into `jobu cron add` and
into the cron form is refused with the same sentence, shown beside the field it is about.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from jobu.cli import main
from jobu.errors import CronNotFoundError
from jobu.model import CronSpec, NewExecution, ParamSource, Status, WorkerInfo
from jobu.operations.users import Role
from tests.conftest import spec_url
from tests.support.admin_site import AdminSite

#: The cron form as a browser posts it with its defaults, for a cron called `nightly`.
FORM = {"name": "nightly", "description": "the nightly report", "schedule": "0 3 * * *",
        "timezone": "Asia/Seoul", "handler_name": "report", "handler_params": '{"to": "ops"}',
        "is_enabled": "on", "max_retry": "2", "retry_backoff_seconds": "10",
        "timeout_seconds": "", "priority": "0", "queue": "default", "isolation": "thread",
        "catch_up": "latest", "misfire_grace_seconds": "60", "catch_up_max_runs": "10",
        "dst_repeat": "first", "jitter_seconds": "0"}


@pytest.fixture
def site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path)
    yield site
    site.close()


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def field_errors(response) -> dict[str, str]:
    return {name: html.unescape(sentence) for name, sentence in re.findall(
        r'<span class="field-error" id="error-(\w+)">([^<]*)</span>',
        response.get_data(as_text=True))}


def finish(store, status: Status, message: str = "boom") -> int:
    """Claim the oldest runnable execution and end it with `status`; its id."""
    [claimed] = store.execution_claim("test-worker", ["default"], 1, 60)
    if status == Status.SUCCESS:
        store.execution_complete(claimed.id, claimed.lease_token, {"sent": 3})
    else:
        store.execution_fail(claimed.id, claimed.lease_token, message,
                             traceback="Traceback (most recent call last):\n  boom", status=status)
    return claimed.id


def test_empty_pages_say_what_to_do(site):
    viewer = site.client(Role.VIEWER)
    assert "jobu cron add" in text_of(viewer.get("/crons"))
    assert "No job yet" in text_of(viewer.get("/jobs"))
    assert "systemctl start jobu.target" in text_of(viewer.get("/workers"))
    overview = text_of(viewer.get("/"))
    assert "Nothing is running" in overview and "No dispatcher is registered" in overview


def test_a_cron_added_edited_toggled_run_and_deleted_through_the_pages(site, store):
    added = site.post(Role.ADMIN, "/crons/new", FORM)
    assert added.status_code == 302 and added.headers["Location"] == "/crons/nightly"
    cron = store.cron_get("nightly")
    assert (cron.schedule, cron.timezone, cron.handler_params, cron.max_retry) == (
        "0 3 * * *", "Asia/Seoul", {"to": "ops"}, 2)

    listing = text_of(site.client(Role.VIEWER).get("/crons"))
    assert "every day at 03:00 Asia/Seoul" in listing and "+09:00" in listing

    edited = site.post(Role.ADMIN, "/crons/nightly/edit",
                       {**FORM, "schedule": "30 4 * * 1-5", "timeout_seconds": "90"})
    assert edited.status_code == 302
    cron = store.cron_get("nightly")
    assert (cron.schedule, cron.timeout_seconds) == ("30 4 * * 1-5", 90.0)

    assert site.post(Role.OPERATOR, "/crons/nightly/disable").status_code == 302
    assert store.cron_get("nightly").is_enabled is False
    assert site.post(Role.OPERATOR, "/crons/nightly/enable").status_code == 302
    assert store.cron_get("nightly").is_enabled is True

    ran = site.post(Role.OPERATOR, "/crons/nightly/run")
    execution_id = int(ran.headers["Location"].rsplit("/", 1)[1])
    execution = store.execution_get(execution_id)
    assert (execution.job_id, execution.param_source, execution.params) == (
        cron.id, ParamSource.MANUAL, {"to": "ops"})
    detail = text_of(site.client(Role.VIEWER).get("/crons/nightly"))
    assert f"#{execution_id}" in detail and "every Monday to Friday at 04:30" in detail

    confirm = text_of(site.client(Role.ADMIN).get("/crons/nightly/delete"))
    assert "Delete cron nightly?" in confirm
    assert site.post(Role.ADMIN, "/crons/nightly/delete").status_code == 302
    with pytest.raises(CronNotFoundError):
        store.cron_get("nightly")
    assert store.execution_get(execution_id).params == {"to": "ops"}  # the history stays


def test_jobs_are_listed_filtered_paged_retried_and_cancelled(site, store):
    store.cron_create(CronSpec(name="nightly", schedule="0 3 * * *", handler_name="report"))
    for number in range(3):
        store.execution_insert(NewExecution(handler_name="report", params={"n": number}))
    failed = finish(store, Status.FAILED)
    viewer = site.client(Role.VIEWER)

    failures = text_of(viewer.get("/jobs?status=failed"))
    assert f"#{failed}" in failures and failures.count('href="/jobs/') == 1
    assert "#1" in text_of(viewer.get("/jobs?handler=report&source=manual"))
    assert "No job matches" in text_of(viewer.get("/jobs?cron=nightly"))
    refused = viewer.get("/jobs?status=bogus")
    assert refused.status_code == 400 and "status takes" in text_of(refused)

    site.app.extensions["jobu"]["config"] = replace_page_size(site, 2)
    first = text_of(viewer.get("/jobs"))
    older = re.search(r'href="\?before=(\d+)"', first)
    assert older, first
    second = text_of(viewer.get(f"/jobs?before={older.group(1)}"))
    assert 'href="/jobs/1"' not in first and 'href="/jobs/1"' in second

    detail = text_of(viewer.get(f"/jobs/{failed}"))
    assert "boom" in detail and "Traceback (most recent call last)" in detail
    assert '"n": 0' in detail

    assert site.post(Role.OPERATOR, f"/jobs/{failed}/retry").status_code == 302
    assert store.execution_get(failed).status == Status.PENDING
    pending = store.execution_list(limit=10).items[0].id
    assert site.post(Role.OPERATOR, f"/jobs/{pending}/cancel").status_code == 302
    assert store.execution_get(pending).status == Status.CANCELLED
    refused = site.post(Role.OPERATOR, f"/jobs/{pending}/cancel")
    assert refused.status_code == 409


def replace_page_size(site, size):
    import dataclasses
    config = site.app.extensions["jobu"]["config"]
    return dataclasses.replace(config, admin=dataclasses.replace(config.admin, page_size=size))


def test_overview_and_workers_show_what_runs_and_what_is_stale(site, store):
    now = store.database_now()
    store.worker_register(WorkerInfo(id="w-live", kind="worker", hostname="alpha", pid=10,
                                     pool_size=4, handlers=("report",), queues=("default",)))
    store.worker_register(WorkerInfo(id="w-old", kind="worker", hostname="beta", pid=11),
                          now=now - timedelta(minutes=5))
    store.cron_create(CronSpec(name="nightly", schedule="0 3 * * *", handler_name="report"))
    store.execution_insert(NewExecution(handler_name="report"))
    store.execution_insert(NewExecution(handler_name="report"))
    failed = finish(store, Status.TIMEOUT, "took too long")
    store.execution_claim("w-live", ["default"], 1, 60)
    viewer = site.client(Role.VIEWER)

    workers = text_of(viewer.get("/workers"))
    assert "alpha" in workers and "beta" in workers
    assert workers.count(">stale<") == 1
    overview = text_of(viewer.get("/"))
    assert f"#{failed}" in overview and "RUNNING" in overview and "nightly" in overview
    form = text_of(site.client(Role.ADMIN).get("/crons/new"))
    assert '<option value="report">' in form


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("changes", "field"), [
    ({"schedule": "0 3 * *"}, "schedule"),
    ({"schedule": "61 3 * * *"}, "schedule"),
    ({"schedule": "2001-01-01T00:00:00Z"}, "schedule"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"name": "no spaces allowed"}, "name"),
    ({"handler_name": "bad handler"}, "handler_name"),
    ({"queue": "a queue"}, "queue"),
    ({"max_retry": "-1"}, "max_retry"),
    ({"timeout_seconds": "0"}, "timeout_seconds"),
])
def test_form_errors_stand_beside_their_field_with_the_cli_sentence(
        site, store, db_spec, tmp_path, monkeypatch, capsys, changes, field):
    response = site.post(Role.ADMIN, "/crons/new", {**FORM, **changes})
    assert response.status_code == 422
    errors = field_errors(response)
    assert list(errors) == [field], errors

    form = {**FORM, **changes}
    argv = ["--config-dir", str(site.directory), "cron", "add", form["name"],
            "--schedule", form["schedule"], "--handler", form["handler_name"],
            "--timezone", form["timezone"], "--queue", form["queue"],
            "--max-retry", form["max_retry"]]
    if form["timeout_seconds"]:
        argv += ["--timeout", form["timeout_seconds"]]
    monkeypatch.setenv("JOBU_DATABASE_URL", spec_url(db_spec))
    capsys.readouterr()
    assert main(argv) != 0
    cli_error = capsys.readouterr().err.strip().removeprefix("jobu: ")
    assert errors[field] == cli_error


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_a_refused_edit_keeps_what_was_typed_and_changes_nothing(site, store):
    site.post(Role.ADMIN, "/crons/new", FORM)
    response = site.post(Role.ADMIN, "/crons/nightly/edit",
                         {**FORM, "schedule": "every 5x", "description": "typed"})
    assert response.status_code == 422 and "schedule" in field_errors(response)
    assert 'value="typed"' in response.get_data(as_text=True)
    assert store.cron_get("nightly").description == "the nightly report"
    bad_json = site.post(Role.ADMIN, "/crons/nightly/edit", {**FORM, "handler_params": "{x"})
    assert list(field_errors(bad_json)) == ["handler_params"]
