"""The audit log on SQLite, PostgreSQL and MariaDB: every change made through the pages or the
API is one row (who, what, to what, from where) written only when it succeeded; sign-in,
failed sign-in and sign-out too; /audit and GET /api/v1/audit read it (admin only), newest
first with "Older" pages; the dispatcher's maintenance prunes it.

`test_every_state_changing_route_declares_its_audit` reads the application's URL map, so a
route added later without an ``@audited`` declaration fails it.
"""

from __future__ import annotations

import html
from datetime import timedelta

import pytest

from jobu.admin.security import UNSAFE_METHODS
from jobu.admin.views.audit import audit_of
from jobu.config import DispatcherConfig
from jobu.maintenance import Maintenance
from jobu.model import CronSpec, NewExecution
from jobu.operations import audit
from jobu.operations.users import Role, issue_api_token
from tests.integration.test_admin_pages import FORM
from tests.support.admin_site import PASSWORD, AdminSite

CLIENT = "198.51.100.7"


@pytest.fixture
def site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path)
    yield site
    site.close()


def rows(store, **filters) -> list[tuple]:
    """(actor, action, target, source, address, detail) of every row, oldest first."""
    found = audit.list_audit(store, limit=1000, **filters).items
    return [(r.actor, r.action, r.target, r.source, r.address, r.detail)
            for r in reversed(found)]


def changes(store) -> list[tuple]:
    """The rows that are not sign-ins or sign-outs."""
    return [row for row in rows(store) if not row[1].startswith("user.")]


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_every_state_changing_route_declares_its_audit(site):
    undeclared = sorted(
        f"{method} {rule.rule} ({rule.endpoint})"
        for rule in site.app.url_map.iter_rules() if rule.endpoint != "static"
        for method in rule.methods & UNSAFE_METHODS
        if audit_of(site.app, rule.endpoint) is None)
    assert undeclared == [], "declare @audited(...) (views.audit) on these routes"


def test_page_actions_are_recorded_once_they_succeeded(site, store):
    created = site.post(Role.ADMIN, "/crons/new", FORM, environ_base={"REMOTE_ADDR": CLIENT})
    assert created.status_code == 302, text_of(created)
    site.post(Role.OPERATOR, "/crons/nightly/disable")
    site.post(Role.OPERATOR, "/crons/nightly/enable")
    ran = site.post(Role.OPERATOR, "/crons/nightly/run")
    execution_id = int(ran.headers["Location"].rsplit("/", 1)[1])
    site.post(Role.OPERATOR, f"/jobs/{execution_id}/cancel")
    site.post(Role.ADMIN, "/crons/nightly/delete")

    assert changes(store) == [
        ("admin", "cron.create", "nightly", "admin", CLIENT, None),
        ("operator", "cron.disable", "nightly", "admin", "127.0.0.1", None),
        ("operator", "cron.enable", "nightly", "admin", "127.0.0.1", None),
        ("operator", "cron.run", "nightly", "admin", "127.0.0.1", f"execution {execution_id}"),
        ("operator", "job.cancel", str(execution_id), "admin", "127.0.0.1", None),
        ("admin", "cron.delete", "nightly", "admin", "127.0.0.1", None),
    ]


def test_refused_actions_write_nothing(site, store):
    store.cron_create(CronSpec(name="nightly", schedule="0 3 * * *", handler_name="report"))
    bad_form = site.post(Role.ADMIN, "/crons/new", {**FORM, "name": "broken",
                                                    "schedule": "not a schedule"})
    preview = site.post(Role.ADMIN, "/crons/new", {**FORM, "name": "shown", "preview": "1"})
    missing = site.post(Role.OPERATOR, "/crons/absent/enable")
    forbidden = site.post(Role.VIEWER, "/crons/nightly/disable")
    no_csrf = site.client(Role.OPERATOR).post("/crons/nightly/disable")
    finished = site.post(Role.OPERATOR, "/jobs/999999/retry")

    assert [r.status_code for r in (bad_form, preview, missing, forbidden, no_csrf, finished)
            ] == [422, 200, 404, 403, 400, 404]
    assert changes(store) == []


def test_a_replay_the_page_refuses_with_a_redirect_writes_nothing(site, store):
    # No queue.yaml topic names it: the page sends the operator back to the letter.
    from tests.integration.test_admin_dead_letters import dead_letter, message
    letter = dead_letter(store, message(handler_name="sleep"), offset=3)
    refused = site.post(Role.OPERATOR, f"/dead-letters/{letter}/replay")
    assert refused.status_code == 302
    assert refused.headers["Location"].endswith(f"/dead-letters/{letter}")
    assert changes(store) == []

    site.post(Role.OPERATOR, f"/dead-letters/{letter}/discard")
    assert changes(store) == [
        ("operator", "dead_letter.discard", str(letter), "admin", "127.0.0.1", None)]


def test_api_actions_are_recorded_with_source_api(site, store):
    token = issue_api_token(store, "admin")
    client = site.app.test_client()

    def call(method: str, url: str, body=None):
        return client.open(f"/api/v1{url}", method=method, json=body,
                           headers={"Authorization": f"Bearer {token}"})

    assert call("POST", "/crons", {"name": "nightly", "schedule": "0 3 * * *",
                                   "handler_name": "report"}).status_code == 201
    assert call("PATCH", "/crons/nightly", {"name": "daily"}).status_code == 200
    ran = call("POST", "/crons/daily/run").get_json()
    assert call("POST", f"/jobs/{ran['execution_id']}/cancel").status_code == 200
    assert call("PATCH", "/crons/absent", {"schedule": "0 4 * * *"}).status_code == 404
    assert call("DELETE", "/crons/daily").status_code == 204

    assert changes(store) == [
        ("admin", "cron.create", "nightly", "api", "127.0.0.1", None),
        ("admin", "cron.edit", "nightly", "api", "127.0.0.1", "renamed to daily"),
        ("admin", "cron.run", "daily", "api", "127.0.0.1", f"execution {ran['execution_id']}"),
        ("admin", "job.cancel", str(ran["execution_id"]), "api", "127.0.0.1", None),
        ("admin", "cron.delete", "daily", "api", "127.0.0.1", None),
    ]


def test_bulk_actions_record_their_filter(site, store):
    store.execution_insert(NewExecution(handler_name="report"))
    done = site.post(Role.OPERATOR, "/jobs/cancel", {"status": "PENDING",
                                                      "handler": "report"})
    assert done.status_code == 302, text_of(done)
    [row] = changes(store)
    assert row[:2] == ("operator", "job.cancel_many")
    assert row[5] == "status=PENDING handler=report"


def test_sign_in_failed_sign_in_and_sign_out_are_recorded(site, store):
    client = site.app.test_client()
    csrf = site.csrf(client)
    wrong = client.post("/login", data={"name": "viewer", "password": "nope",
                                        "csrf_token": csrf},
                        environ_base={"REMOTE_ADDR": CLIENT})
    assert wrong.status_code == 401
    right = client.post("/login", data={"name": "viewer", "password": PASSWORD,
                                        "csrf_token": csrf},
                        environ_base={"REMOTE_ADDR": CLIENT})
    assert right.status_code == 302
    client.jobu_csrf = None
    assert client.post("/logout", data={"csrf_token": site.csrf(client)}).status_code == 302

    assert rows(store) == [
        ("-", "user.sign_in_failed", "viewer", "admin", CLIENT, None),
        ("viewer", "user.sign_in", "viewer", "admin", CLIENT, None),
        ("viewer", "user.sign_out", "viewer", "admin", "127.0.0.1", None),
    ]


def seed_rows(store, count: int) -> None:
    for number in range(count):
        audit.record(store, actor="alice" if number % 2 else "bob", action="cron.edit",
                     source="admin", target=f"cron-{number}", address=CLIENT)


def test_the_audit_page_lists_newest_first_with_older_pages_and_filters(site, store):
    site = rebuild_with_page_size(site, 2)
    admin = site.client(Role.ADMIN)  # its sign-in row is older than the rows below
    seed_rows(store, 5)
    first = text_of(admin.get("/audit"))
    assert first.index("cron-4") < first.index("cron-3") and "cron-2" not in first
    newest_shown = audit.list_audit(store, limit=2).next_cursor
    assert f"before={newest_shown}" in first and 'href="/audit"' in first

    older = text_of(admin.get(f"/audit?before={newest_shown}"))
    assert "cron-2" in older and "cron-1" in older and "cron-4" not in older

    filtered = text_of(admin.get("/audit?actor=alice&action=cron.edit"))
    assert "cron-3" in filtered and "cron-1" in filtered and "cron-4" not in filtered
    none = text_of(admin.get("/audit?target=nothing"))
    assert "No row matches these filters" in none
    assert admin.get("/audit?before=x").status_code == 400


def rebuild_with_page_size(site: AdminSite, size: int) -> AdminSite:
    from tests.integration.test_admin_dead_letters import rebuild
    return rebuild(site, page_size=size)


def test_the_audit_page_is_for_admins_and_says_what_it_holds_when_empty(site, store):
    # Signing in writes rows: look at an empty log by filtering on an action nobody did.
    admin = site.client(Role.ADMIN)
    page = text_of(admin.get("/audit"))
    assert 'href="/audit"' in page and "user.sign_in" in page
    store_empty = text_of(admin.get("/audit?action=cron.delete"))
    assert "No row matches these filters" in store_empty

    assert site.client(Role.OPERATOR).get("/audit").status_code == 403
    assert 'href="/audit"' not in text_of(site.client(Role.OPERATOR).get("/crons"))
    assert 'href="/audit"' in text_of(admin.get("/crons"))


def test_an_empty_log_says_what_it_will_hold(site, store):
    token = issue_api_token(store, "admin")  # an API token writes no sign-in row
    client = site.app.test_client()
    response = client.get("/audit", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert "Nothing recorded yet" in text_of(response)


def test_the_api_lists_the_log_with_filters_and_next(site, store):
    seed_rows(store, 3)
    token = issue_api_token(store, "admin")
    client = site.app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    first = client.get("/api/v1/audit?limit=2", headers=headers).get_json()
    assert [item["target"] for item in first["items"]] == ["cron-2", "cron-1"]
    assert set(first["items"][0]) == {"id", "at", "actor", "action", "target", "source",
                                      "address", "detail"}
    rest = client.get(f"/api/v1/audit?limit=2&before={first['next']}", headers=headers)
    assert [item["target"] for item in rest.get_json()["items"]] == ["cron-0"]
    assert rest.get_json()["next"] is None
    only = client.get("/api/v1/audit?actor=alice", headers=headers).get_json()
    assert [item["target"] for item in only["items"]] == ["cron-1"]

    operator = issue_api_token(store, "operator")
    refused = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {operator}"})
    assert refused.status_code == 403


def test_maintenance_prunes_rows_older_than_audit_retention_days(store):
    now = store.database_now()
    for days, target in ((400, "old"), (366, "older than a year"), (10, "recent")):
        audit.record(store, actor="alice", action="cron.edit", source="admin", target=target,
                     now=now - timedelta(days=days))

    kept = Maintenance(store, DispatcherConfig(audit_retention_days=0, retention_days={}),
                       database_clock=False).run(now)
    assert kept.audit_pruned == 0 and len(rows(store)) == 3

    tally = Maintenance(store, DispatcherConfig(audit_retention_days=365, prune_batch_size=1,
                                                retention_days={}),
                        database_clock=False).run(now)
    assert tally.audit_pruned == 2
    assert [row[2] for row in rows(store)] == ["recent"]
