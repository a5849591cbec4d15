"""`jobu admin serve` as a real process: gunicorn answers /health, a user signs in and loads /crons,
SIGTERM stops it with exit 0, and a bad admin.yaml exits 78 before anything binds."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from jobu.model import DatabaseSpec
from jobu.operations.users import Role, add_user
from jobu.store import open_store
from tests.support.admin_site import PASSWORD, config_dir
from tests.support.notify import NotifySocket

pytestmark = pytest.mark.acceptance

REPO = Path(__file__).resolve().parents[2]
JOBU = Path(sys.executable).parent / "jobu"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(directory: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    env.pop("JOBU_DATABASE_URL", None)
    return subprocess.Popen([str(JOBU), "--config-dir", str(directory), "admin", "serve", *argv],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def wait_for(url: str, process: subprocess.Popen, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert process.poll() is None, process.stdout.read()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {deadline} s")


@pytest.fixture
def database(tmp_path) -> DatabaseSpec:
    spec = DatabaseSpec(name="jobs", driver="sqlite", path=str(tmp_path / "jobs.db"), pool_size=2)
    store = open_store(spec)
    store.migrate()
    add_user(store, "ops", PASSWORD, Role.OPERATOR)
    store.close()
    return spec


def test_serve_answers_health_and_a_signed_in_crons_page(tmp_path, database):
    directory = config_dir(tmp_path, f"sqlite:///{database.path}", workers=1, threads=2)
    base = f"http://127.0.0.1:{free_port()}"
    process = start(directory, "--bind", base.removeprefix("http://"))
    try:
        wait_for(f"{base}/health", process)
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        login = browser.open(f"{base}/login").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
        form = urllib.parse.urlencode({"name": "ops", "password": PASSWORD,
                                       "csrf_token": token, "next": "/crons"}).encode()
        crons = browser.open(f"{base}/login", data=form)
        assert crons.url == f"{base}/crons" and crons.status == 200
        assert "No cron yet" in crons.read().decode()
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Booting worker" in output


def test_ready_for_systemd_once_it_listens(tmp_path, database):
    """jobu-admin.service is Type=notify: READY=1 comes from gunicorn's arbiter once its socket
    listens, with where it listens; SIGTERM then stops it with exit 0."""
    directory = config_dir(tmp_path, f"sqlite:///{database.path}", workers=1, threads=2)
    bind = f"127.0.0.1:{free_port()}"
    home = tmp_path / "home"
    home.mkdir()
    with NotifySocket() as notify:
        process = start(directory, "--bind", bind,
                        env={"NOTIFY_SOCKET": notify.path, "HOME": str(home)})
        try:
            notify.wait_for("READY=1", timeout=30)
            with socket.create_connection(("127.0.0.1", int(bind.split(":")[1])), timeout=5):
                pass  # the socket listens as soon as READY=1 arrived
            assert f"STATUS=serving on http://{bind} with 1 worker processes" in notify.lines()
            wait_for(f"http://{bind}/health", process)
            # No control socket of gunicorn 25+ in $HOME: it would be one for every admin.
            assert not (home / ".gunicorn").exists()
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output


def test_a_bad_admin_yaml_exits_78_before_binding(tmp_path, database):
    directory = config_dir(tmp_path, f"sqlite:///{database.path}", workers=0)
    process = start(directory, "--bind", f"127.0.0.1:{free_port()}")
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 78, output
    assert "admin.yaml: workers" in output


def test_help_names_every_admin_command():
    for argv, words in ((["admin"], ["serve", "user"]),
                        (["admin", "user"], ["add", "passwd", "remove", "list", "token"]),
                        (["admin", "serve"], ["--bind"])):
        result = subprocess.run([str(JOBU), *argv, "--help"], capture_output=True, text=True,
                                check=True)
        for word in words:
            assert word in result.stdout, (argv, word, result.stdout)


def test_workers_keep_their_owner_without_calling_setuid(monkeypatch):
    """Debian 12's gunicorn calls setuid() to a worker's own uid, which jobu-admin.service's
    system-call filter refuses (EPERM): with the ids unchanged, no such call is made."""
    from gunicorn import util

    from jobu.admin.serve import keep_owner_without_setuid

    def refused(*_):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(util, "set_owner_process", util.set_owner_process)  # undone after
    # As user jobu (not root, whose uid 0 gunicorn never sets), with the filter's refusals.
    monkeypatch.setattr(os, "getuid", lambda: 4242)
    monkeypatch.setattr(os, "getgid", lambda: 4242)
    monkeypatch.setattr(os, "setuid", refused)
    monkeypatch.setattr(os, "setgid", refused)
    keep_owner_without_setuid()
    keep_owner_without_setuid()  # twice: wrapped once
    util.set_owner_process(4242, 4242)
    with pytest.raises(PermissionError):
        util.set_owner_process(4243, 4242)
