"""The admin in a real browser: headless Chromium drives `jobu admin serve` (gunicorn) with a
`jobu worker` running, on SQLite, the way an operator would.

Sign in; add a cron through the form with a bad schedule first (the reason is shown beside the
schedule field, what was typed is kept), then a good one; see its next fire times; run it now
and watch the job reach SUCCESS on /jobs; retry a job that failed and see the new attempt
succeed, its failed attempt still listed; sign out, after which /crons leads to /login.

Elements are found by form field names, button text and link text, not by the page's layout,
so that the pages may change around them. Every wait is a bounded poll that reloads the page.
Each main page is saved as a PNG (conftest.artifacts_dir).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlsplit

import pytest

from tests.browser.handlers.fail_once import FIRST_RUN_ERROR
from tests.support.processes import JOBU

try:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the `browser` fixture says so: a failure under CI=true, else a skip
    pass

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]

CRON = "nightly-report"
#: Longest wait for a worker to finish a job, seconds (it takes well under one).
JOB_DEADLINE = 30


def path_of(browser) -> str:
    return urlsplit(browser.current_url).path


def button(browser, text: str):
    """The one button whose text is `text`."""
    return browser.find_element(By.XPATH, f"//button[normalize-space()='{text}']")


def follow(browser, element) -> None:
    """Click `element` (a button or link) and wait until the page it leads to has loaded: a
    form posted to its own address keeps the URL, so only the old page going stale tells."""
    page, label = browser.find_element(By.TAG_NAME, "html"), element.text
    element.click()
    WebDriverWait(browser, 30).until(
        lambda b: staleness_of(page)(b)
        and b.execute_script("return document.readyState") == "complete",
        f"the page after clicking {label!r} to load")


def fill(browser, **fields: str) -> None:
    """Type each value into the form field of that name, replacing what is there."""
    for name, value in fields.items():
        field = browser.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)


def body_text(browser) -> str:
    return browser.find_element(By.TAG_NAME, "body").text


def reload_until(browser, url: str, ready, what: str, deadline: float = JOB_DEADLINE) -> None:
    """Load `url` again and again until ready(browser) is true, for at most `deadline` s.

    The pages' own scripts may rewrite a row or load a job's page again meanwhile
    (jobs-refresh.js): an element gone from under us is one more round, not a failure.
    """
    def loaded_and_ready(driver) -> bool:
        driver.get(url)
        return bool(ready(driver))
    WebDriverWait(browser, deadline, poll_frequency=0.25, ignored_exceptions=(
        NoSuchElementException, StaleElementReferenceException)).until(
        loaded_and_ready, f"{what} within {deadline} s (last page: {url})")


def job_status_shown(browser, job_id: int, status: str) -> bool:
    """Does the row of job #ID on the current page say `status`?"""
    try:
        row = browser.find_element(By.XPATH, f"//a[normalize-space()='#{job_id}']/ancestor::tr[1]")
    except NoSuchElementException:
        return False
    return status in row.text


def heading_says(browser, status: str) -> bool:
    """Does the job page's title (Job #ID STATUS) say `status`?"""
    return status in browser.find_element(By.TAG_NAME, "h1").text


def next_fire_times(count: int, at: time) -> list[str]:
    """The next `count` daily fire times at `at` UTC, to the second: what the cron page writes
    in the cron's zone (UTC) and in UTC, whatever offset or zone name follows."""
    now = datetime.now(UTC)
    first = datetime.combine(now.date(), at, tzinfo=UTC)
    if first <= now:
        first += timedelta(days=1)
    return [f"{first + timedelta(days=n):%Y-%m-%d %H:%M:%S}" for n in range(count)]


def test_an_operator_adds_runs_and_retries_in_a_real_browser(browser, live_admin, screenshot):
    try:
        drive_the_admin(live_admin, browser, screenshot)
    except BaseException:
        with contextlib.suppress(Exception):  # a browser that died takes no screenshot
            screenshot("failure")
        print(live_admin.logs())  # shown by pytest with the failure
        raise


def drive_the_admin(admin, browser, screenshot) -> None:
    # Signed out, a page leads to the sign-in form.
    browser.get(admin.url("/crons"))
    assert path_of(browser) == "/login"
    screenshot("login")
    fill(browser, name=admin.user, password=admin.password)
    follow(browser, button(browser, "Sign in"))
    assert path_of(browser) == "/crons", body_text(browser)
    assert button(browser, "Sign out")

    # A cron through the form: the bad schedule is refused beside its field, typing kept.
    browser.get(admin.url("/crons/new"))
    fill(browser, name=CRON, description="the report of the night", schedule="61 * * * *",
         timezone="UTC", handler_name="noop", handler_params='{"report": "nightly"}')
    follow(browser, button(browser, "Add cron"))
    assert path_of(browser) == "/crons/new"
    schedule_field = browser.find_element(
        By.XPATH, "//input[@name='schedule']/ancestor::label[1]")
    error = schedule_field.find_element(By.ID, "error-schedule")
    assert error.is_displayed() and "minute" in error.text and "61" in error.text, error.text
    assert browser.find_element(By.NAME, "schedule").get_attribute("value") == "61 * * * *"
    assert browser.find_element(By.NAME, "name").get_attribute("value") == CRON
    screenshot("cron-form-refused")

    fill(browser, schedule="0 3 * * *")
    follow(browser, button(browser, "Add cron"))
    assert path_of(browser) == f"/crons/{CRON}", body_text(browser)
    page = body_text(browser)
    assert f"Cron {CRON} added." in page
    for fire in next_fire_times(5, time(3, 0)):
        assert fire in page, f"next fire time {fire} not on the cron's page:\n{page}"

    # Run now: the job page of the new execution, then SUCCESS on /jobs once the worker ran it.
    follow(browser, button(browser, "Run now"))
    assert path_of(browser).startswith("/jobs/"), body_text(browser)
    run_id = int(path_of(browser).rsplit("/", 1)[1])
    assert f"enqueued as job {run_id}" in body_text(browser)
    reload_until(browser, admin.url("/jobs"),
                 lambda b: job_status_shown(b, run_id, "SUCCESS"),
                 f"job #{run_id} of Run now to show SUCCESS on /jobs")

    # A job that fails once: FAILED, then Retry from its page, and the new attempt succeeds.
    marker = admin.tmp_path / "fail-once.marker"
    enqueued = subprocess.run(
        [str(JOBU), "enqueue", "fail_once", "--params", json.dumps({"marker": str(marker)})],
        capture_output=True, text=True, env=admin.site.env, timeout=60, check=True)
    failing_id = int(enqueued.stdout.split()[0])
    reload_until(browser, admin.url("/jobs"),
                 lambda b: job_status_shown(b, failing_id, "FAILED"),
                 f"job #{failing_id} (fail_once) to show FAILED on /jobs")
    assert job_status_shown(browser, run_id, "SUCCESS")
    screenshot("jobs")

    follow(browser, browser.find_element(By.LINK_TEXT, f"#{failing_id}"))
    assert path_of(browser) == f"/jobs/{failing_id}"
    assert heading_says(browser, "FAILED") and FIRST_RUN_ERROR in body_text(browser)
    follow(browser, button(browser, "Retry"))
    assert path_of(browser) == f"/jobs/{failing_id}"
    assert f"Job {failing_id} will run again from attempt 1." in body_text(browser)
    reload_until(browser, admin.url(f"/jobs/{failing_id}"),
                 lambda b: heading_says(b, "SUCCESS"),
                 f"job #{failing_id} to succeed at its retry")
    page = body_text(browser)
    assert '"failed_before": true' in page, page  # the result of the new attempt
    assert FIRST_RUN_ERROR in page, page  # the failed attempt stays in its history
    screenshot("job-detail")

    # The other main pages, now that they have something to show.
    follow(browser, browser.find_element(By.LINK_TEXT, "Crons"))
    assert path_of(browser) == "/crons"
    assert CRON in body_text(browser)
    screenshot("crons")
    follow(browser, browser.find_element(By.LINK_TEXT, CRON))
    assert path_of(browser) == f"/crons/{CRON}"
    screenshot("cron-detail")
    follow(browser, browser.find_element(By.LINK_TEXT, "Workers"))
    assert path_of(browser) == "/workers"
    worker_pid = admin.site.workers[0].pid
    assert str(worker_pid) in body_text(browser), body_text(browser)
    screenshot("workers")
    follow(browser, browser.find_element(By.LINK_TEXT, "Overview"))
    assert path_of(browser) == "/"
    screenshot("overview")

    # Signed out, the pages lead to the sign-in form again.
    follow(browser, button(browser, "Sign out"))
    assert path_of(browser) == "/login"
    browser.get(admin.url("/crons"))
    assert path_of(browser) == "/login"
    assert browser.find_elements(By.NAME, "password")
