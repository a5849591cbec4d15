"""The admin's charts on SQLite, PostgreSQL and MariaDB: a cron's last runs (duration and
outcome) on its page, executions finished and start lateness per hour on the overview; each
an SVG that parses, whose bars say what a known workload did, with an empty state; and the
cron form's fire-time preview (the JSON endpoint's DST marks, the no-JS button, the script).
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest

from jobu.admin.charts import duration_chart, throughput_chart
from jobu.calendars import Calendar
from jobu.clock import FakeClock
from jobu.model import CronSpec, NewExecution, ParamSource, Status
from jobu.operations.charts_data import HourActivity, RunBar
from jobu.operations.users import Role
from tests.support.admin_site import AdminSite

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path)
    yield site
    site.close()


def run(store, job_id: int, scheduled: datetime, *, late: float, took: float,
        status: Status = Status.SUCCESS) -> int:
    """An execution of cron `job_id` scheduled at `scheduled`, started `late` seconds after
    it and ended with `status` `took` seconds later; its id."""
    store.execution_insert(NewExecution(handler_name="report", job_id=job_id,
                                        param_source=ParamSource.CRON,
                                        scheduled_time=scheduled, run_after=scheduled))
    started = scheduled + timedelta(seconds=late)
    [claimed] = store.execution_claim("test-worker", ["default"], 1, 3600, now=started)
    ended = started + timedelta(seconds=took)
    if status == Status.SUCCESS:
        store.execution_complete(claimed.id, claimed.lease_token, None, now=ended)
    else:
        store.execution_fail(claimed.id, claimed.lease_token, "boom", status=status, now=ended)
    return claimed.id


def svgs_of(page: str) -> dict[str, ET.Element]:
    """Every chart of a page, parsed as XML, by its id."""
    found = {}
    for text in re.findall(r"<svg .*?</svg>", page, flags=re.S):
        element = ET.fromstring(text)
        found[element.get("id")] = element
    return found


def bar_titles(svg: ET.Element) -> list[str]:
    return [bar.find(f"{SVG}title").text for bar in svg.iter(f"{SVG}g")
            if bar.get("class") == "bar"]


def test_a_crons_page_charts_the_duration_and_outcome_of_its_last_runs(site, store):
    cron = store.cron_create(CronSpec(name="nightly", schedule="0 3 * * *",
                                      handler_name="report"))
    start = store.database_now() - timedelta(days=10)
    outcomes = [(2.0, Status.SUCCESS), (4.5, Status.FAILED), (1.25, Status.TIMEOUT),
                (3.0, Status.SUCCESS)]
    ids = [run(store, cron.id, start + timedelta(days=day), late=1, took=took, status=status)
           for day, (took, status) in enumerate(outcomes)]
    store.execution_insert(NewExecution(handler_name="report", job_id=cron.id,
                                        param_source=ParamSource.CRON,
                                        scheduled_time=start + timedelta(days=5),
                                        status=Status.SKIPPED, error_message="overlap"))

    page = site.client(Role.VIEWER).get("/crons/nightly").get_data(as_text=True)
    svg = svgs_of(page)["durations"]
    assert svg.find(f"{SVG}title").text == "Duration and outcome of the last 5 runs"
    assert "longest took 4.5 s" in svg.find(f"{SVG}desc").text
    titles = bar_titles(svg)
    assert titles[:4] == [f"#{ids[0]} SUCCESS, 2.0 s, started "
                          f"{(start + timedelta(seconds=1)):%Y-%m-%d %H:%M:%S}",
                          *(t for t in titles[1:4])]
    assert [title.split(",")[0] for title in titles] == [
        f"#{ids[0]} SUCCESS", f"#{ids[1]} FAILED", f"#{ids[2]} TIMEOUT", f"#{ids[3]} SUCCESS",
        titles[4].split(",")[0]]
    assert titles[4].endswith("SKIPPED, no duration")
    rects = [rect for rect in svg.iter(f"{SVG}rect") if rect.get("data-value") is not None]
    assert [float(rect.get("data-value")) for rect in rects] == [2.0, 4.5, 1.25, 3.0, 0.0]
    heights = [float(rect.get("height")) for rect in rects]
    assert heights[1] == max(heights) and heights[0] == pytest.approx(heights[1] * 2.0 / 4.5,
                                                                      abs=0.02)
    assert rects[1].get("fill") != rects[0].get("fill")
    legend = [text.text for text in svg.iter(f"{SVG}text")
              if text.text in {"SUCCESS", "FAILED", "TIMEOUT", "SKIPPED"}]
    assert legend == ["SUCCESS", "FAILED", "TIMEOUT", "SKIPPED"]
    assert "<details><summary>The numbers</summary>" in page


def test_a_cron_that_never_ran_has_an_empty_chart_that_says_so(site, store):
    store.cron_create(CronSpec(name="nightly", schedule="0 3 * * *", handler_name="report"))
    page = html.unescape(site.client(Role.VIEWER).get("/crons/nightly").get_data(as_text=True))
    assert "<svg" not in page
    assert "No run yet: the chart fills as the cron runs." in page


def test_the_overview_charts_executions_finished_and_lateness_per_hour(site, store):
    cron = store.cron_create(CronSpec(name="nightly", schedule="0 3 * * *",
                                      handler_name="report"))
    now = store.database_now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    two_ago = hour - timedelta(hours=2) + timedelta(minutes=10)
    run(store, cron.id, two_ago, late=4, took=60)
    run(store, cron.id, two_ago + timedelta(minutes=1), late=8, took=60)
    run(store, cron.id, two_ago + timedelta(minutes=2), late=3, took=60, status=Status.FAILED)
    run(store, cron.id, two_ago + timedelta(minutes=3), late=1, took=60, status=Status.TIMEOUT)
    run(store, cron.id, hour - timedelta(hours=30), late=100, took=5)  # before the window

    page = site.client(Role.VIEWER).get("/").get_data(as_text=True)
    charts = svgs_of(page)
    throughput = bar_titles(charts["throughput"])
    assert len(throughput) == 24
    label = (hour - timedelta(hours=2)).strftime("%Y-%m-%d %H:00")
    assert f"{label}: 2 succeeded, 2 failed" in throughput
    assert sum(int(title.split(": ")[1].split()[0]) for title in throughput) == 2
    assert "4 executions finished, 2 of them failed or timed out" in \
        charts["throughput"].find(f"{SVG}desc").text
    lateness = bar_titles(charts["lateness"])
    assert f"{label}: 4.0 s late on average" in lateness
    assert sum("late on average" in title for title in lateness) == 1


def test_the_overview_says_when_nothing_finished(site):
    page = html.unescape(site.client(Role.VIEWER).get("/").get_data(as_text=True))
    assert "<svg" not in page
    assert "No execution finished in the last 24 hours." in page
    assert "No scheduled run finished in the last 24 hours." in page


def test_chart_text_is_escaped_and_the_svg_stays_well_formed():
    at = datetime(2026, 5, 1, 3, tzinfo=UTC)
    markup = str(duration_chart([RunBar(1, Status.SUCCESS, at, 1.5)], chart_id="a<b"))
    svg = ET.fromstring(re.search(r"<svg .*?</svg>", markup, flags=re.S).group(0))
    assert svg.get("id") == "a<b"
    hours = [HourActivity(at + timedelta(hours=i), i, 0, None) for i in range(3)]
    assert ET.fromstring(re.search(r"<svg .*?</svg>", str(throughput_chart(hours)),
                                   flags=re.S).group(0)) is not None


# --- the fire-time preview -----------------------------------------------------------

@pytest.fixture
def berlin_spring(site):
    """The site's clock on 27 March 2026, two days before Europe/Berlin springs forward."""
    site.app.extensions["jobu"]["clock"] = FakeClock(datetime(2026, 3, 27, tzinfo=UTC))
    return site


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("schedule", "zone", "now", "marked"), [
    # 02:30 does not exist on 29 March in Berlin: it fires at 03:00 CEST, the gap's end.
    ("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 27, tzinfo=UTC),
     {"2026-03-29T03:00:00+02:00": "gap-shifted"}),
    # 02:30 happens twice on 25 October; with dst_repeat auto a fixed time fires once.
    ("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 23, tzinfo=UTC),
     {"2026-10-25T02:30:00+02:00": "repeated-hour"}),
    # New York falls back on 1 November 2026: 01:30 EDT is the first of two.
    ("30 1 * * *", "America/New_York", datetime(2026, 10, 30, 12, tzinfo=UTC),
     {"2026-11-01T01:30:00-04:00": "repeated-hour"}),
    ("30 2 * * *", "America/New_York", datetime(2026, 3, 6, 12, tzinfo=UTC),
     {"2026-03-08T03:00:00-04:00": "gap-shifted"}),
])
def test_the_preview_endpoint_marks_fire_times_a_dst_transition_bears_on(
        site, schedule, zone, now, marked):
    site.app.extensions["jobu"]["clock"] = FakeClock(now)
    answer = site.client(Role.VIEWER).get("/api/v1/schedule/next", query_string={
        "schedule": schedule, "timezone": zone, "count": 5})
    assert answer.status_code == 200
    fires = answer.get_json()["fires"]
    assert len(fires) == 5
    assert {fire["local"]: fire["dst"] for fire in fires if fire["dst"]} == marked
    assert [fire["at"] for fire in fires] == answer.get_json()["next_fires"]
    for fire in fires:
        assert fire["local"].endswith(fire["utc_offset"])


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_the_preview_endpoint_refuses_with_the_sentence_of_the_field(site):
    answer = site.client(Role.VIEWER).get("/api/v1/schedule/next", query_string={
        "schedule": "0 3 * * *", "timezone": "Mars/Olympus"})
    assert answer.status_code == 422
    assert answer.get_json()["error"] == {"code": "invalid_input", "field": "timezone",
                                          "message": "unknown time zone 'Mars/Olympus'"}


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_the_preview_button_shows_the_next_ten_times_without_saving(berlin_spring, store):
    site = berlin_spring
    admin = site.client(Role.ADMIN)
    form = {"name": "nightly", "schedule": "30 2 * * *", "timezone": "Europe/Berlin",
            "handler_name": "report", "handler_params": "{}", "is_enabled": "on",
            "max_retry": "0", "retry_backoff_seconds": "10", "timeout_seconds": "",
            "priority": "0", "queue": "default", "isolation": "thread", "catch_up": "latest",
            "misfire_grace_seconds": "60", "catch_up_max_runs": "10", "dst_repeat": "auto",
            "jitter_seconds": "0", "preview": "1", "csrf_token": site.csrf(admin)}
    answer = admin.post("/crons/new", data=form)
    assert answer.status_code == 200
    page = html.unescape(answer.get_data(as_text=True))
    times = re.findall(r'<li class="tick-run"><time datetime="([^"]+)">([^<]+)</time>'
                       r'( <span class="dst")?', page)
    assert len(times) == 10
    assert times[0][1] == "2026-03-27 02:30:00 (UTC+01:00)"
    assert times[2][1] == "2026-03-29 03:00:00 (UTC+02:00)" and times[2][2]
    assert not any(mark for i, (_, _, mark) in enumerate(times) if i != 2)
    assert store.cron_list() == []
    assert 'value="30 2 * * *"' in page  # the form keeps what was typed

    refused = admin.post("/crons/new", data={**form, "schedule": "61 2 * * *"})
    assert refused.status_code == 422
    assert re.search(r'id="error-schedule">[^<]*61', html.unescape(refused.get_data(as_text=True)))
    assert store.cron_list() == []


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_the_preview_follows_the_business_calendar_the_schedule_names(site, store):
    """As `jobu cron next`: ticks on non-working days of the stored calendar are listed as
    moved or skipped, with the reason; a calendar that does not exist is refused."""
    site.app.extensions["jobu"]["clock"] = FakeClock(datetime(2026, 9, 1, tzinfo=UTC))
    store.calendar_save(Calendar("kr", {date(2026, 9, 24): "Chuseok"}, timezone="Asia/Seoul"))
    viewer = site.client(Role.VIEWER)

    def preview(schedule: str) -> dict:
        answer = viewer.get("/api/v1/schedule/next", query_string={
            "schedule": schedule, "timezone": "Asia/Seoul", "count": 3})
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    moved = preview("0 9 24 * * calendar kr on_holiday next_business_day")
    first = moved["fires"][0]
    assert (first["local"], first["outcome"]) == ("2026-09-25T09:00:00+09:00", "moved")
    assert first["reason"] == ("2026-09-24 is a holiday in calendar kr: Chuseok; moved to "
                               "2026-09-25")
    # 24 October 2026 is a Saturday; 24 November a Tuesday.
    assert [(fire["local"][:10], fire["outcome"]) for fire in moved["fires"][1:]] == [
        ("2026-10-26", "moved"), ("2026-11-24", "run")]
    assert moved["fires"][2]["reason"] is None

    skipped = preview("0 9 23-25 9 * calendar kr")
    assert [(fire["local"][:10], fire["outcome"]) for fire in skipped["fires"]] == [
        ("2026-09-23", "run"), ("2026-09-24", "skipped"), ("2026-09-25", "run")]
    assert skipped["next_fires"] == [skipped["fires"][0]["at"], skipped["fires"][2]["at"]]

    missing = viewer.get("/api/v1/schedule/next", query_string={
        "schedule": "0 9 * * * calendar nowhere"})
    assert missing.status_code == 404
    assert missing.get_json()["error"]["field"] == "schedule"
    assert "jobu calendar add nowhere" in missing.get_json()["error"]["message"]

    admin = site.client(Role.ADMIN)
    form = {"name": "settle", "schedule": "0 9 24 * * calendar kr on_holiday next_business_day",
            "timezone": "Asia/Seoul", "handler_name": "report", "handler_params": "{}",
            "max_retry": "0", "retry_backoff_seconds": "10", "timeout_seconds": "",
            "priority": "0", "queue": "default", "isolation": "thread", "catch_up": "latest",
            "misfire_grace_seconds": "60", "catch_up_max_runs": "10", "dst_repeat": "auto",
            "jitter_seconds": "0", "preview": "1", "csrf_token": site.csrf(admin)}
    page = html.unescape(admin.post("/crons/new", data=form).get_data(as_text=True))
    assert re.search(r'<li class="tick-moved"><time datetime="2026-09-25T00:00:00\+00:00">'
                     r'2026-09-25 09:00:00 \(UTC\+09:00\)</time> <span class="calendar-note">'
                     r'moved: 2026-09-24 is a holiday in calendar kr: Chuseok', page)
    refused = admin.post("/crons/new", data={**form, "schedule": "0 9 * * * calendar nowhere"})
    assert refused.status_code == 422
    assert re.search(r'id="error-schedule">no calendar named \'nowhere\'',
                     html.unescape(refused.get_data(as_text=True)))
    assert store.cron_list() == []


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_the_form_and_only_the_form_loads_the_preview_script(site, store):
    admin = site.client(Role.ADMIN)
    store.cron_create(CronSpec(name="nightly", schedule="0 3 * * *", handler_name="report"))
    tag = '<script src="/static/cron-preview.js" defer></script>'
    assert tag in admin.get("/crons/new").get_data(as_text=True)
    assert tag in admin.get("/crons/nightly/edit").get_data(as_text=True)
    for page in ("/crons", "/crons/nightly", "/"):
        assert "cron-preview.js" not in admin.get(page).get_data(as_text=True)
    script = admin.get("/static/cron-preview.js")
    body = script.get_data(as_text=True)
    script.close()
    assert script.status_code == 200
    assert "section.dataset.endpoint" in body  # the page says where to ask
    assert 'data-endpoint="/api/v1/schedule/next"' in admin.get("/crons/new").get_data(
        as_text=True)
    assert "javascript" in script.headers["Content-Type"]
