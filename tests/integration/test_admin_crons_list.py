"""The /crons list on SQLite, PostgreSQL and MariaDB: each cron's strip of its last 20
outcomes, its average and p95 duration over all its runs (its statistics'), the filters, the
orders and the pages, checked against a known history."""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import timedelta

import pytest

from jobu.model import CronSpec, NewExecution, ParamSource, Status
from jobu.operations.cron_board import CronQuery, cron_page
from jobu.operations.users import Role
from tests.support.admin_site import AdminSite


@pytest.fixture
def site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path)
    yield site
    site.close()


def run(store, job_id: int, scheduled, *, took: float, status: Status) -> None:
    store.execution_insert(NewExecution(handler_name="report", job_id=job_id,
                                        param_source=ParamSource.CRON,
                                        scheduled_time=scheduled, run_after=scheduled))
    [claimed] = store.execution_claim("test-worker", ["default"], 1, 3600, now=scheduled)
    ended = scheduled + timedelta(seconds=took)
    if status == Status.SUCCESS:
        store.execution_complete(claimed.id, claimed.lease_token, None, now=ended)
    else:
        store.execution_fail(claimed.id, claimed.lease_token, "boom", status=status, now=ended)


#: alpha's 25 runs, oldest first: run i took i + 1 seconds, and every fifth failed.
ALPHA_RUNS = [(i + 1.0, Status.FAILED if i % 5 == 4 else Status.SUCCESS) for i in range(25)]


@pytest.fixture
def crons(store):
    """alpha (enabled, 25 runs, the last one FAILED), beta (disabled, handler backup, one
    run, older), gamma (enabled, every 5 minutes, never ran)."""
    start = store.database_now() - timedelta(days=30)
    alpha = store.cron_create(CronSpec(name="alpha", schedule="0 3 * * *",
                                       handler_name="report"))
    beta = store.cron_create(CronSpec(name="beta", schedule="0 4 * * *", handler_name="backup",
                                      is_enabled=False))
    store.cron_create(CronSpec(name="gamma", schedule="*/5 * * * *", handler_name="report"))
    run(store, beta.id, start, took=2, status=Status.SUCCESS)
    for day, (took, status) in enumerate(ALPHA_RUNS):
        run(store, alpha.id, start + timedelta(days=day + 1), took=took, status=status)
    return store


def rows_of(page: str) -> dict[str, str]:
    """Each row of the crons table, by cron name."""
    body = html.unescape(page)
    return {name: row for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
            for name in re.findall(r'<a href="/crons/([\w.:-]+)">', row)[:1]}


def names_of(page: str) -> list[str]:
    return list(rows_of(page))


def test_each_cron_shows_its_last_twenty_outcomes_and_its_durations(site, crons):
    page = site.client(Role.VIEWER).get("/crons").get_data(as_text=True)
    rows = rows_of(page)
    strip = re.findall(r'<span class="cell s-(\w+)" title="(\w+)"></span>', rows["alpha"])
    assert [title for _, title in strip] == [status.value for _, status in ALPHA_RUNS[5:]]
    assert all(css == title.lower() for css, title in strip)
    # Durations 1..25 s: the average 13 s, the p95 by nearest rank the 24th, 24 s.
    assert "13.0 s / 24.0 s" in rows["alpha"]
    assert re.findall(r'title="(\w+)"></span>', rows["beta"]) == ["SUCCESS"]
    assert "2.0 s / 2.0 s" in rows["beta"]
    assert "no run yet" in rows["gamma"]
    assert "FAILED" in rows["alpha"]


def test_durations_are_the_statistics_and_the_last_run_is_found_past_the_strip(crons):
    alpha = crons.cron_get("alpha")
    start = crons.database_now() - timedelta(days=400)
    for day in range(90):  # newer ids than alpha's runs, none of which started
        crons.execution_insert(NewExecution(handler_name="report", job_id=alpha.id,
                                            param_source=ParamSource.CRON,
                                            scheduled_time=start + timedelta(days=day),
                                            status=Status.MISSED))
    [row] = cron_page(crons, crons.database_now(), CronQuery(text="alpha")).rows
    assert row.strip == (Status.MISSED,) * 20
    # Every run counts, as in its statistics: durations 1..25 s, the average 13 s, the p95
    # by nearest rank the 24th, 24 s; the same once the history is folded into the totals.
    stats = crons.cron_stats(alpha.id)
    assert row.avg_duration_seconds == pytest.approx(13.0, abs=1e-3)
    assert row.avg_duration_seconds == pytest.approx(stats.avg_duration_seconds, abs=1e-3)
    assert row.p95_duration_seconds == pytest.approx(24.0, abs=1e-3)
    assert row.p95_duration_seconds == pytest.approx(stats.p95_duration_seconds, abs=1e-3)
    assert row.last_status == Status.FAILED  # the last run that started, before the strip
    while crons.stats_fold(crons.database_now() + timedelta(days=1)):
        pass
    [row] = cron_page(crons, crons.database_now(), CronQuery(text="alpha")).rows
    assert row.avg_duration_seconds == pytest.approx(13.0, abs=1e-3)
    assert row.p95_duration_seconds == pytest.approx(24.0, rel=0.025)
    recent = crons.execution_recent_for_crons([alpha.id, crons.cron_get("beta").id], 100)
    assert len(recent[alpha.id].statuses) == 100
    assert len(recent[crons.cron_get("beta").id].statuses) == 1


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["alpha", "beta", "gamma"]),
    ("q=BACK", ["beta"]),
    ("q=rep", ["alpha", "gamma"]),
    ("q=%25", []),  # LIKE's wildcards are taken as typed
    ("q=_", []),
    ("enabled=no", ["beta"]),
    ("enabled=yes", ["alpha", "gamma"]),
    ("last=never", ["gamma"]),
    ("last=failed", ["alpha"]),
    ("last=SUCCESS", ["beta"]),
    ("sort=last", ["alpha", "beta", "gamma"]),
    ("sort=next", ["gamma", "alpha", "beta"]),
    ("sort=name&enabled=yes&q=a", ["alpha", "gamma"]),
])
def test_the_list_is_filtered_and_ordered_by_its_query(site, crons, query, expected):
    page = site.client(Role.VIEWER).get(f"/crons?{query}").get_data(as_text=True)
    assert names_of(page) == expected


def test_a_filter_that_matches_nothing_says_what_to_do(site, crons):
    page = html.unescape(site.client(Role.VIEWER).get("/crons?q=nothing").get_data(
        as_text=True))
    assert "No cron matches these filters." in page and '<a href="/crons">' in page


def test_a_bad_filter_is_refused_with_its_sentence(site, crons):
    answer = site.client(Role.VIEWER).get("/crons?sort=size")
    assert answer.status_code == 422
    assert "sort must be one of name, next, last, got 'size'" in html.unescape(
        answer.get_data(as_text=True))


def test_the_list_is_paged_after_the_last_name(site, crons):
    config = site.app.extensions["jobu"]["config"]
    site.app.extensions["jobu"]["config"] = dataclasses.replace(
        config, admin=dataclasses.replace(config.admin, page_size=2))
    viewer = site.client(Role.VIEWER)
    first = viewer.get("/crons").get_data(as_text=True)
    assert names_of(first) == ["alpha", "beta"]
    [link] = re.findall(r'<a href="\?([^"]+)">Next page', first)
    assert "after=beta" in html.unescape(link)
    second = viewer.get("/crons?" + html.unescape(link)).get_data(as_text=True)
    assert names_of(second) == ["gamma"]
    assert "Next page" not in second
    # A name that no longer exists: the page starts after where it would be.
    assert names_of(viewer.get("/crons?after=b").get_data(as_text=True)) == ["beta", "gamma"]
    ordered = viewer.get("/crons?sort=next").get_data(as_text=True)
    assert names_of(ordered) == ["gamma", "alpha"]
    [link] = re.findall(r'<a href="\?([^"]+)">Next page', ordered)
    assert names_of(viewer.get("/crons?" + html.unescape(link)).get_data(as_text=True)) == [
        "beta"]


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_enabling_from_a_filtered_page_returns_to_that_page(site, crons):
    listing = "/crons?q=a&enabled=no&sort=next"
    page = html.unescape(site.client(Role.OPERATOR).get(listing).get_data(as_text=True))
    assert f'name="next" value="{listing}"' in page  # beta's Enable button
    answer = site.post(Role.OPERATOR, "/crons/beta/enable", {"next": listing})
    assert answer.status_code == 302 and answer.headers["Location"] == listing
    assert crons.cron_get("beta").is_enabled
