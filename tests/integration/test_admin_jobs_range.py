"""The time range of the job history (`from`/`to` on /jobs and GET /api/v1/jobs,
`--since`/`--until` of `jobu jobs list`) on SQLite, PostgreSQL and MariaDB, with keyset pages
across the range; the `ids` filter the live refresh asks with; the refresh and local-time
scripts served and referenced by the pages.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from jobu.model import NewExecution
from jobu.operations.users import Role, issue_api_token
from tests.integration.test_operations_parity import cli  # noqa: F401 - the `jobu` fixture
from tests.support.admin_site import AdminSite

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(hours: int) -> datetime:
    return BASE + timedelta(hours=hours)


@pytest.fixture
def site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path, page_size=2)
    yield site
    site.close()


@pytest.fixture
def api(site, store):
    token = issue_api_token(store, "viewer")
    client = site.app.test_client()

    def call(url: str):
        return client.get(f"/api/v1{url}", headers={"Authorization": f"Bearer {token}"})
    return call


@pytest.fixture
def hourly(store) -> dict[int, int]:
    """One execution per hour from BASE - 2 h to BASE + 7 h: hour → id. Inserted out of time
    order, so that the ids (the pages' order) are not the times' order."""
    hours = [5, -2, 0, 7, 3, 1, 6, 2, 4, -1]
    return {hour: store.execution_insert(NewExecution("noop", scheduled_time=at(hour)))
            for hour in hours}


def in_range(hourly: dict[int, int], first: int, last: int) -> list[int]:
    """The ids scheduled in [at(first), at(last)), newest id first (the history's order)."""
    return sorted((i for hour, i in hourly.items() if first <= hour < last), reverse=True)


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def shown_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="job-\d+" class="job" data-execution-id="(\d+)"',
                                       response.get_data(as_text=True))]


def test_the_page_filters_by_time_range_and_pages_across_it(site, hourly):
    viewer = site.client(Role.VIEWER)
    url = "/jobs?from=2026-03-01T13:00&to=2026-03-01T18:00"
    seen = []
    while url:
        response = viewer.get(url)
        assert response.status_code == 200, text_of(response)[:500]
        seen += shown_ids(response)
        older = re.search(r'<a id="older" href="([^"]+)"', response.get_data(as_text=True))
        url = "/jobs" + html.unescape(older.group(1)) if older else None
        if url:
            assert "from=2026-03-01T13%3A00" in url and "to=2026-03-01T18%3A00" in url
    assert seen == in_range(hourly, 1, 6)
    page = text_of(viewer.get("/jobs?from=2026-03-01T13:00"))
    assert 'value="2026-03-01T13:00"' in page and "in UTC" in page


def test_the_page_takes_an_offset_and_refuses_a_bad_time_naming_the_field(site, hourly):
    viewer = site.client(Role.VIEWER)
    # 15:00+02:00 is 13:00 UTC.
    response = viewer.get("/jobs?from=2026-03-01T15:00%2B02:00&to=2026-03-01T15:00")
    assert shown_ids(response) == in_range(hourly, 1, 3)[:2]
    assert 'type="text"' in response.get_data(as_text=True)  # the offset is kept as typed
    bad = viewer.get("/jobs?from=yesterday")
    assert bad.status_code == 400
    assert ("from must be an ISO 8601 time such as 2026-03-01T12:00 (UTC) or "
            "2026-03-01T12:00+02:00, got 'yesterday'") in text_of(bad)
    reversed_range = viewer.get("/jobs?from=2026-03-01T15:00&to=2026-03-01T13:00")
    assert reversed_range.status_code == 400
    assert "from must be before to" in text_of(reversed_range)
    empty = viewer.get("/jobs?from=2030-01-01T00:00")
    assert "No job matches these filters" in text_of(empty)


def test_the_api_filters_by_time_range_with_offsets_and_pages_with_next(api, hourly):
    seen, before = [], ""
    while True:
        body = api(f"/jobs?limit=3&from=2026-03-01T14:00%2B01:00&to=2026-03-01T18:00Z"
                   f"{before}").get_json()
        seen += [item["id"] for item in body["items"]]
        if body["next"] is None:
            break
        before = f"&before={body['next']}"
    assert seen == in_range(hourly, 1, 6)
    bad = api("/jobs?to=2026-13-01")
    assert bad.status_code == 422
    assert bad.get_json()["error"] == {
        "code": "invalid_input", "field": "to",
        "message": "to must be an ISO 8601 time such as 2026-03-01T12:00 (UTC) or "
                   "2026-03-01T12:00+02:00, got '2026-13-01'"}
    assert api("/jobs?from=2026-03-02&to=2026-03-01").get_json()["error"]["message"] == \
        "from must be before to"


def test_the_cli_filters_by_time_range_pages_across_it_and_refuses_in_the_same_words(
        cli, api, hourly):  # noqa: F811 - the fixture
    seen, before = [], []
    while True:
        code, out, err = cli("jobs", "list", "--since", "2026-03-01T13:00",
                             "--until", "2026-03-01T18:00+00:00", "--limit", "2", "--json",
                             *before)
        assert code == 0, err
        page = json.loads(out)
        seen += [item["id"] for item in page["items"]]
        if page["next_before_id"] is None:
            break
        before = ["--before-id", str(page["next_before_id"])]
    assert seen == in_range(hourly, 1, 6)
    typed = "2026-03-01 noon"
    refused = api(f"/jobs?from={typed}").get_json()["error"]["message"]
    assert refused.startswith("from must be an ISO 8601 time")
    # The command line also takes ages, and its sentence says so.
    assert cli.error("jobs", "list", "--since", typed) == (
        f"--since {typed!r} is neither an ISO 8601 time (2026-03-01T12:00) nor an age "
        "(30m, 2h, 7d)")
    assert cli.error("jobs", "list", "--since", "2026-03-02", "--until", "2026-03-01") == \
        "--since must be before --until"


def test_the_api_lists_only_the_ids_asked_bounded_by_the_limit(api, hourly):
    wanted = sorted([hourly[0], hourly[3]], reverse=True)
    body = api(f"/jobs?ids={hourly[3]},{hourly[0]}").get_json()
    assert [item["id"] for item in body["items"]] == wanted
    too_many = api(f"/jobs?limit=1&ids={hourly[3]},{hourly[0]}")
    assert too_many.status_code == 422 and "at most 1" in too_many.get_json()["error"]["message"]
    assert api("/jobs?ids=3,x").get_json()["error"]["field"] == "ids"


def test_the_scripts_are_served_and_only_the_jobs_pages_refresh(site, store, hourly):
    viewer = site.client(Role.VIEWER)
    for name in ("jobs-refresh.js", "local-time.js"):
        script = viewer.get(f"/static/{name}")
        script.close()  # a static file's response holds the file open
        assert script.status_code == 200
        assert script.mimetype in ("application/javascript", "text/javascript")
    refresh = '<script src="/static/jobs-refresh.js" defer></script>'
    local_time = '<script src="/static/local-time.js" defer></script>'
    listing = viewer.get("/jobs").get_data(as_text=True)
    newest = hourly[4]  # the last inserted: on the first page
    detail = viewer.get(f"/jobs/{newest}").get_data(as_text=True)
    overview = viewer.get("/").get_data(as_text=True)
    assert refresh in listing and refresh in detail and refresh not in overview
    assert local_time in listing and local_time in overview
    assert f'data-execution-id="{newest}" data-status="PENDING"' in listing
    assert f'data-execution-id="{newest}" data-status="PENDING" data-detail="yes"' in detail
    for cell in ("job-status", "job-progress", "job-ended"):
        assert f'class="{cell}"' in listing and f'class="{cell}"' in detail
