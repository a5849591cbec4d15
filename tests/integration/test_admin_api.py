"""The JSON API under /api/v1 on SQLite, PostgreSQL and MariaDB: crons CRUD, run now, jobs, workers,
stats and status; keyset pagination; errors as {"error": {"code", "message", "field"}}; API tokens.
"""

from __future__ import annotations

import pytest

from jobu.errors import CronNotFoundError
from jobu.model import NewExecution, Status, WorkerInfo
from jobu.operations.users import Role, issue_api_token
from tests.support.admin_site import AdminSite


@pytest.fixture
def site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path)
    yield site
    site.close()


@pytest.fixture
def api(site, store):
    """Requests with the admin's API token (no cookie, no CSRF token)."""
    token = issue_api_token(store, "admin")
    client = site.app.test_client()

    def call(method: str, url: str, body=None, token_of=token):
        headers = {"Authorization": f"Bearer {token_of}"}
        return client.open(f"/api/v1{url}", method=method, json=body, headers=headers)
    return call


def error_of(response) -> dict:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]


def test_crons_are_created_read_listed_edited_toggled_run_and_deleted(api, store):
    created = api("POST", "/crons", {"name": "nightly", "schedule": "0 3 * * *",
                                     "handler_name": "report", "timezone": "Asia/Seoul",
                                     "handler_params": {"to": "ops"}, "max_retry": 2})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["schedule_in_words"] == "every day at 03:00 Asia/Seoul"
    assert store.cron_get("nightly").handler_params == {"to": "ops"}

    read = api("GET", "/crons/nightly").get_json()
    assert read["cron"]["max_retry"] == 2 and len(read["next_fires"]) == 10

    edited = api("PATCH", "/crons/nightly", {"schedule": "every 30m", "catch_up": "all"})
    assert edited.status_code == 200, edited.get_json()
    cron = store.cron_get("nightly")
    assert (cron.schedule, cron.catch_up.value, cron.max_retry) == ("every 30m", "all", 2)

    assert api("POST", "/crons/nightly/disable").get_json()["is_enabled"] is False
    assert store.cron_get("nightly").is_enabled is False
    assert api("POST", "/crons/nightly/enable").get_json()["is_enabled"] is True

    ran = api("POST", "/crons/nightly/run")
    assert ran.status_code == 201
    assert store.execution_get(ran.get_json()["execution_id"]).job_id == cron.id

    assert api("DELETE", "/crons/nightly").status_code == 204
    with pytest.raises(CronNotFoundError):
        store.cron_get("nightly")


def test_crons_are_paged_by_name(api):
    for name in ("a", "b", "c"):
        assert api("POST", "/crons", {"name": name, "schedule": "@daily",
                                      "handler_name": "h"}).status_code == 201
    first = api("GET", "/crons?limit=2").get_json()
    assert [item["cron"]["name"] for item in first["items"]] == ["a", "b"]
    assert first["next"] == "b"
    second = api("GET", f"/crons?limit=2&after={first['next']}").get_json()
    assert [item["cron"]["name"] for item in second["items"]] == ["c"] and second["next"] is None


def test_jobs_are_listed_paged_read_retried_and_cancelled(api, store):
    ids = [store.execution_insert(NewExecution(handler_name="report", params={"n": n}))
           for n in range(3)]
    page = api("GET", "/jobs?limit=2").get_json()
    assert [item["id"] for item in page["items"]] == ids[:0:-1] and page["next"] == ids[1]
    rest = api("GET", f"/jobs?limit=2&before={page['next']}").get_json()
    assert [item["id"] for item in rest["items"]] == [ids[0]] and rest["next"] is None

    [claimed] = store.execution_claim("w", ["default"], 1, 60)
    store.execution_fail(claimed.id, claimed.lease_token, "boom", traceback="tb")
    detail = api("GET", f"/jobs/{claimed.id}").get_json()
    assert detail["execution"]["status"] == "FAILED"
    assert detail["attempt_errors"][0]["error_message"] == "boom"
    assert [j["id"] for j in api("GET", "/jobs?status=failed").get_json()["items"]] == [
        claimed.id]

    assert api("POST", f"/jobs/{claimed.id}/retry").get_json()["status"] == "PENDING"
    assert store.execution_get(claimed.id).status == Status.PENDING
    assert api("POST", f"/jobs/{ids[2]}/cancel").get_json()["status"] == "CANCELLED"
    assert store.execution_get(ids[2]).status == Status.CANCELLED


def test_workers_stats_status_and_schedule_preview(api, store):
    store.worker_register(WorkerInfo(id="w1", kind="worker", hostname="alpha", pid=1,
                                     handlers=("report",)))
    api("POST", "/crons", {"name": "nightly", "schedule": "0 3 * * *", "handler_name": "report"})
    assert [w["hostname"] for w in api("GET", "/workers").get_json()["items"]] == ["alpha"]
    assert api("GET", "/stats?cron=nightly").get_json()["total"] == 0
    assert api("GET", "/stats").get_json()["name"] is None
    status = api("GET", "/status").get_json()
    assert status["crons"] == 1 and status["next_fires"][0]["name"] == "nightly"
    preview = api("GET", "/schedule/next?schedule=0%203%20*%20*%20*&timezone=Asia/Seoul&count=2")
    assert preview.get_json()["next_fires"][0].endswith("18:00:00+00:00")


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_errors_have_a_code_a_message_a_field_and_the_right_status(api, site):
    api("POST", "/crons", {"name": "taken", "schedule": "@daily", "handler_name": "h"})
    cases = [
        (api("POST", "/crons", {"name": "x", "schedule": "0 3 * *", "handler_name": "h"}),
         422, "invalid_input", "schedule"),
        (api("POST", "/crons", {"name": "x", "schedule": "@daily", "handler_name": "h",
                                "timezone": "Mars/Olympus"}), 422, "invalid_input", "timezone"),
        (api("POST", "/crons", {"name": "x", "schedule": "@daily", "handler_name": "h",
                                "max_retry": "two"}), 422, "invalid_input", "max_retry"),
        (api("POST", "/crons", {"name": "x", "schedule": "@daily"}),
         422, "invalid_input", "handler_name"),
        (api("POST", "/crons", {"name": "x", "schedule": "@daily", "handler_name": "h",
                                "colour": "red"}), 422, "invalid_input", "colour"),
        (api("POST", "/crons", {"name": "taken", "schedule": "@daily", "handler_name": "h"}),
         409, "already_exists", "name"),
        (api("POST", "/crons", ["not", "an", "object"]), 400, "bad_request", None),
        (api("GET", "/crons/nothing"), 404, "not_found", None),
        (api("GET", "/jobs/999"), 404, "not_found", None),
        (api("GET", "/jobs?limit=0"), 422, "invalid_input", "limit"),
        (api("GET", "/jobs?status=bogus"), 422, "invalid_input", None),
        (api("GET", "/crons", token_of="jobu_wrong"), 401, "unauthenticated", None),
        (site.app.test_client().get("/api/v1/nothing"), 404, "not_found", None),
    ]
    for response, status, code, field in cases:
        error = error_of(response)
        assert (response.status_code, error["code"]) == (status, code), error
        if field is not None:
            assert error["field"] == field, error
        assert error["message"]


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_the_session_works_for_the_api_with_its_csrf_token(site, store):
    operator = site.client(Role.OPERATOR)
    assert operator.get("/api/v1/crons").status_code == 200
    refused = operator.post("/api/v1/crons", json={"name": "x", "schedule": "@daily",
                                                   "handler_name": "h"},
                            headers={"X-CSRF-Token": site.csrf(operator)})
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    admin = site.client(Role.ADMIN)
    made = admin.post("/api/v1/crons", json={"name": "x", "schedule": "@daily",
                                             "handler_name": "h"},
                      headers={"X-CSRF-Token": site.csrf(admin)})
    assert made.status_code == 201
    no_token = admin.delete("/api/v1/crons/x")
    assert no_token.status_code == 400 and error_of(no_token)["code"] == "csrf"
    assert store.cron_get("x").name == "x"
