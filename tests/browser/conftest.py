"""The browser stage's fixtures: a real admin and worker on SQLite, and headless Chromium.

`live_admin` runs `jobu migrate`, `jobu admin user add`, a `jobu worker` (with the built-in
handlers and tests/browser/handlers) and `jobu admin serve` (gunicorn) on a free port, all as
subprocesses on one SQLite file under tmp_path. `browser` is Debian's chromium, headless, driven
by selenium through Debian's /usr/bin/chromedriver: named explicitly, so that selenium never
tries to download a driver or a browser of its own. Under CI=true a missing browser, driver or
selenium fails the test; elsewhere it is skipped with the reason (`make test` installs them).

Screenshots go to $JOBU_ARTIFACTS_DIR when it is set, else to dist/test-artifacts/browser/.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobu.model import DatabaseSpec
from jobu.store import open_store
from tests.servers import in_ci, wait_until
from tests.support.processes import JOBU, WorkerSite

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HANDLERS = Path(__file__).resolve().parent / "handlers"
#: Large enough for the wide tables, small enough for a screenshot worth committing.
WINDOW = (1280, 900)
#: The admin user the browser signs in as (role admin, for the cron form).
USER = "ops"
PASSWORD = "correct horse battery staple"


def unavailable(reason: str) -> None:
    """Fail under CI=true (the stage installs the browser), skip elsewhere, saying why."""
    message = f"the browser test needs {reason}; `make test` installs it " \
              "(packaging/apt-ensure.sh chromium chromium-driver, and the browser extra)"
    if in_ci():
        pytest.fail(f"{message}. CI=true, so this is a failure, not a skip.", pytrace=False)
    pytest.skip(message)


def artifacts_dir() -> Path:
    """Where the screenshots go: $JOBU_ARTIFACTS_DIR, else dist/test-artifacts/browser/."""
    configured = os.environ.get("JOBU_ARTIFACTS_DIR")
    directory = Path(configured) if configured else REPO / "dist" / "test-artifacts" / "browser"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium with a fixed window size, as root (--no-sandbox)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium (pip install -e '.[browser]')")
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not binary.exists():
            unavailable(f"{binary} (apt package {package})")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--hide-scrollbars",
                     f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(argument)
    # TZ=UTC: the pages' scripts write times in the browser's zone; in UTC they match the
    # server's text, whatever zone the machine is in.
    service = Service(str(CHROMEDRIVER), env={**os.environ, "TZ": "UTC"})
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@dataclass
class LiveAdmin:
    """The admin's address, the worker site behind it and where its output goes."""

    base_url: str
    site: WorkerSite
    tmp_path: Path
    server: subprocess.Popen
    server_log: Path
    user: str = USER
    password: str = PASSWORD

    def url(self, path: str) -> str:
        return self.base_url + path

    def logs(self) -> str:
        """The admin's and the worker's output, for a failing test's message."""
        return (f"--- admin serve (exit {self.server.poll()})\n"
                f"{self.server_log.read_text(errors='replace')[-4000:]}\n"
                f"{self.site.logs(tail=4000)}")


def jobu(site: WorkerSite, *argv: str, stdin: str | None = None) -> None:
    """Run a `jobu` command in the site's environment; fail the test with its output if it
    fails."""
    result = subprocess.run([str(JOBU), *argv], input=stdin, capture_output=True, text=True,
                            env=site.env, cwd=site.tmp_path, timeout=60)
    assert result.returncode == 0, f"jobu {' '.join(argv)}: {result.stdout}{result.stderr}"


def wait_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    def healthy() -> bool:
        if server.poll() is not None:
            pytest.fail(f"jobu admin serve exited {server.returncode}\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError):
            return False
    wait_until(healthy, 30, interval=0.1, message=f"{url} to answer")


@pytest.fixture
def live_admin(tmp_path) -> Iterator[LiveAdmin]:
    """`jobu admin serve` and one `jobu worker` on a fresh SQLite database, with user `ops`
    (role admin, password PASSWORD); both are stopped with SIGTERM afterwards."""
    database = tmp_path / "jobs.db"
    site = WorkerSite(tmp_path, f"sqlite:///{database}")
    site.write_worker_yaml(pool_size=2, handler_paths=[str(HANDLERS)])
    admin_yaml = site.config_dir / "admin.yaml"
    settings = yaml.safe_load(admin_yaml.read_text()) or {}
    settings.update(workers=1, threads=4, secret_key="browser-test-secret-key-for-sessions")
    admin_yaml.write_text(yaml.safe_dump(settings))
    jobu(site, "migrate")
    jobu(site, "admin", "user", "add", USER, "--role", "admin", stdin=f"{PASSWORD}\n")

    site.store = open_store(DatabaseSpec(name="jobs", driver="sqlite", path=str(database),
                                         pool_size=2))
    base_url = f"http://127.0.0.1:{free_port()}"
    server_log = tmp_path / "admin-serve.log"
    with server_log.open("wb") as log:
        server = subprocess.Popen(
            [str(JOBU), "admin", "serve", "--bind", base_url.removeprefix("http://")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=site.env,
            cwd=tmp_path)
    try:
        site.wait_registered(site.start_worker())
        wait_healthy(f"{base_url}/health", server, server_log)
        yield LiveAdmin(base_url, site, tmp_path, server, server_log)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        for worker in site.workers:
            worker.stop()
        site.kill_all()
        site.store.close()


@pytest.fixture
def screenshot(browser) -> Callable[[str], Path]:
    """screenshot(NAME): the browser's page as it is now, as NAME.png in the artefact
    directory."""
    directory = artifacts_dir()
    (directory / "failure.png").unlink(missing_ok=True)  # a past run's, which would mislead

    def save(name: str) -> Path:
        path = directory / f"{name}.png"
        assert browser.save_screenshot(str(path)), f"no screenshot written to {path}"
        return path
    return save
