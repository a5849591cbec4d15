"""Bulk retry and cancel of a filtered set of jobs on SQLite, PostgreSQL and MariaDB: the
/jobs buttons, the confirmation page and its POST, POST /api/v1/jobs/retry and /cancel, their
effects in the database (mixed states: the skipped ones), the bound on how many, roles,
read_only and CSRF.
"""

from __future__ import annotations

import html
import re

import pytest

from jobu.model import NewExecution, Status
from jobu.operations import executions
from jobu.operations.users import Role, issue_api_token
from tests.support.admin_site import AdminSite


@pytest.fixture
def site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path)
    yield site
    site.close()


@pytest.fixture
def read_only_site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path, read_only=True)
    yield site
    site.close()


def api_of(site: AdminSite, store, role: Role = Role.OPERATOR):
    token = issue_api_token(store, role.value)
    client = site.app.test_client()

    def call(method: str, url: str, body=None):
        return client.open(f"/api/v1{url}", method=method, json=body,
                           headers={"Authorization": f"Bearer {token}"})
    return call


@pytest.fixture
def mixed(store) -> dict[str, list[int]]:
    """Jobs of handler `bulk` in every kind of state, and one of another handler."""
    made = {
        "failed": [store.execution_insert(NewExecution("bulk", status=Status.FAILED))
                   for _ in range(2)],
        "skipped": [store.execution_insert(NewExecution("bulk", status=Status.SKIPPED))],
        "pending": [store.execution_insert(NewExecution("bulk")) for _ in range(2)],
        "running": [store.execution_insert(NewExecution("bulk", queue="busy"))],
        "other": [store.execution_insert(NewExecution("other", status=Status.FAILED))],
    }
    [claimed] = store.execution_claim("worker-1", ["busy"], 1, 60)
    assert claimed.id == made["running"][0]
    return made


def states(store, ids: list[int]) -> list[tuple[Status, bool]]:
    return [(e.status, e.cancel_requested) for e in map(store.execution_get, ids)]


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_api_bulk_retry_runs_the_finished_again_and_skips_the_others(site, store, mixed):
    answer = api_of(site, store)("POST", "/jobs/retry", {"handler": "bulk"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"matched": 6, "done": 3, "skipped": 3}
    again = [store.execution_get(i) for i in mixed["failed"] + mixed["skipped"]]
    assert {(e.status, e.attempt, e.error_message) for e in again} == {(Status.PENDING, 0, None)}
    assert states(store, mixed["pending"]) == [(Status.PENDING, False)] * 2
    assert states(store, mixed["running"]) == [(Status.RUNNING, False)]
    assert states(store, mixed["other"]) == [(Status.FAILED, False)]


def test_api_bulk_cancel_cancels_the_waiting_and_asks_the_running_to_stop(site, store, mixed):
    answer = api_of(site, store)("POST", "/jobs/cancel", {"handler": "bulk", "status": None})
    assert answer.get_json() == {"matched": 6, "done": 3, "skipped": 3}
    assert states(store, mixed["pending"]) == [(Status.CANCELLED, False)] * 2
    # Exactly what a single cancel does to a running job: its worker is asked to stop it.
    assert states(store, mixed["running"]) == [(Status.RUNNING, True)]
    assert states(store, mixed["failed"]) == [(Status.FAILED, False)] * 2
    assert states(store, mixed["other"]) == [(Status.FAILED, False)]


def test_api_bulk_takes_the_lists_filter_keys_and_refuses_bad_ones(site, store, mixed):
    api = api_of(site, store)
    answer = api("POST", "/jobs/retry", {"handler": "bulk", "status": "FAILED",
                                         "from": "2000-01-01T00:00+02:00"})
    assert answer.get_json() == {"matched": 2, "done": 2, "skipped": 0}
    assert states(store, mixed["skipped"]) == [(Status.SKIPPED, False)]
    none = api("POST", "/jobs/cancel", {"handler": "bulk", "to": "2000-01-01T00:00"})
    assert none.get_json() == {"matched": 0, "done": 0, "skipped": 0}
    bad = api("POST", "/jobs/cancel", {"handler": "bulk", "from": "soon"}).get_json()["error"]
    assert bad["field"] == "from" and bad["message"].startswith("from must be an ISO 8601 time")
    unknown = api("POST", "/jobs/cancel", {"handle": "bulk"}).get_json()["error"]
    assert (unknown["code"], unknown["field"]) == ("invalid_input", "handle")
    everything = api("POST", "/jobs/cancel", {})
    assert everything.status_code == 422
    assert "needs a filter" in everything.get_json()["error"]["message"]
    assert states(store, mixed["pending"]) == [(Status.PENDING, False)] * 2


def test_the_bound_refuses_a_filter_matching_too_many(site, store, mixed, monkeypatch):
    monkeypatch.setattr(executions, "BULK_ACTION_LIMIT", 5)
    refused = api_of(site, store)("POST", "/jobs/retry", {"handler": "bulk"})
    assert refused.status_code == 422
    assert "more than 5 jobs" in refused.get_json()["error"]["message"]
    assert "narrow" in refused.get_json()["error"]["message"]
    assert states(store, mixed["failed"]) == [(Status.FAILED, False)] * 2
    operator = site.client(Role.OPERATOR)
    page = text_of(operator.get("/jobs?handler=bulk"))
    assert "More than 5 jobs match: narrow the filter" in page and "Retry all" not in page
    confirm = text_of(operator.get("/jobs/retry?handler=bulk"))
    assert "More than 5 jobs match this filter" in confirm and 'id="bulk-confirm"' not in confirm
    posted = site.post(Role.OPERATOR, "/jobs/retry", {"handler": "bulk"})
    assert posted.status_code == 422 and "more than 5 jobs" in text_of(posted)
    assert states(store, mixed["failed"]) == [(Status.FAILED, False)] * 2


def test_the_page_offers_both_asks_first_then_does_it(site, store, mixed):
    operator = site.client(Role.OPERATOR)
    listing = text_of(operator.get("/jobs?handler=bulk"))
    assert '<a class="button" id="bulk-retry" href="/jobs/retry?handler=bulk">' \
           "Retry all 3 finished</a>" in listing
    assert 'href="/jobs/cancel?handler=bulk">Cancel all 3 waiting or running</a>' in listing
    assert "Retry all" not in text_of(operator.get("/jobs"))  # no filter, no bulk action

    confirm = text_of(operator.get("/jobs/cancel?handler=bulk"))
    assert "<dt>handler</dt><dd>bulk</dd>" in confirm
    assert "6 jobs match this filter; <strong>3</strong> of them are waiting or running" \
        in confirm
    assert 'type="hidden" name="handler" value="bulk"' in confirm
    assert "At most 1,000 jobs are taken at once" in confirm
    assert states(store, mixed["pending"]) == [(Status.PENDING, False)] * 2  # asked, not done

    done = site.post(Role.OPERATOR, "/jobs/cancel", {"handler": "bulk"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/jobs?handler=bulk")
    after = text_of(operator.get("/jobs?handler=bulk"))
    assert ("Cancel: 3 of 6 matching jobs cancelled (1 running: their workers were asked to "
            "stop them); 3 skipped (not waiting or running).") in after
    assert states(store, mixed["pending"]) == [(Status.CANCELLED, False)] * 2
    assert states(store, mixed["running"]) == [(Status.RUNNING, True)]

    retried = site.post(Role.OPERATOR, "/jobs/retry", {"handler": "bulk", "status": "FAILED"})
    assert retried.status_code == 302
    assert states(store, mixed["failed"]) == [(Status.PENDING, False)] * 2
    assert states(store, mixed["other"]) == [(Status.FAILED, False)]


def test_a_confirmation_without_a_filter_or_with_a_bad_one_says_why(site, mixed):
    operator = site.client(Role.OPERATOR)
    bare = operator.get("/jobs/retry")
    assert bare.status_code == 400 and "needs a filter" in text_of(bare)
    bad = operator.get("/jobs/retry?to=later")
    assert bad.status_code == 400 and "to must be an ISO 8601 time" in text_of(bad)
    nothing = text_of(operator.get("/jobs/retry?handler=bulk&status=PENDING"))
    assert "there is nothing to retry" in nothing and 'id="bulk-confirm"' not in nothing


def test_a_viewer_sees_no_bulk_action_and_is_refused(site, store, mixed):
    viewer = site.client(Role.VIEWER)
    assert "Retry all" not in text_of(viewer.get("/jobs?handler=bulk"))
    assert viewer.get("/jobs/retry?handler=bulk").status_code == 403
    assert site.post(Role.VIEWER, "/jobs/cancel", {"handler": "bulk"}).status_code == 403
    refused = api_of(site, store, Role.VIEWER)("POST", "/jobs/cancel", {"handler": "bulk"})
    assert refused.status_code == 403
    assert states(store, mixed["pending"]) == [(Status.PENDING, False)] * 2


def test_read_only_refuses_bulk_actions_to_everyone(read_only_site, store, mixed):
    site = read_only_site
    assert "Cancel all" not in text_of(site.client(Role.ADMIN).get("/jobs?handler=bulk"))
    assert site.post(Role.ADMIN, "/jobs/cancel", {"handler": "bulk"}).status_code == 403
    refused = api_of(site, store, Role.ADMIN)("POST", "/jobs/cancel", {"handler": "bulk"})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "read_only"
    assert states(store, mixed["pending"]) == [(Status.PENDING, False)] * 2


def test_a_bulk_post_without_the_csrf_token_is_refused(site, store, mixed):
    operator = site.client(Role.OPERATOR)
    page = operator.post("/jobs/cancel", data={"handler": "bulk"})
    assert page.status_code == 400
    api = operator.post("/api/v1/jobs/cancel", json={"handler": "bulk"})
    assert api.status_code == 400 and api.get_json()["error"]["code"] == "csrf"
    assert states(store, mixed["pending"]) == [(Status.PENDING, False)] * 2
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      operator.get("/jobs/cancel?handler=bulk").get_data(as_text=True))
    with_token = operator.post("/api/v1/jobs/cancel", json={"handler": "bulk"},
                               headers={"X-CSRF-Token": token.group(1)})
    assert with_token.get_json() == {"matched": 6, "done": 3, "skipped": 3}
