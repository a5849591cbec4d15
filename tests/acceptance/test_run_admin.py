"""`jobu run --admin`: the development command serves the web admin too, as a child process
that stops with it — on SIGTERM, and also when `jobu run` is killed outright."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import wait_until
from tests.support.admin_site import config_dir

pytestmark = pytest.mark.acceptance

REPO = Path(__file__).resolve().parents[2]
JOBU = Path(sys.executable).parent / "jobu"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"GET /health HTTP/1.0\r\n\r\n")
            return connection.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False


@pytest.fixture
def run_admin(tmp_path):
    database = tmp_path / "jobs.db"
    directory = config_dir(tmp_path, f"sqlite:///{database}", workers=1, threads=2)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("JOBU_", "NOTIFY_SOCKET", "WATCHDOG_"))}
    env.update(PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    subprocess.run([str(JOBU), "--config-dir", str(directory), "migrate"], env=env, check=True,
                   capture_output=True)
    port = free_port()
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen([str(JOBU), "--config-dir", str(directory), "run", "--admin",
                                f"127.0.0.1:{port}"], env=env, cwd=tmp_path,
                               stdout=log, stderr=subprocess.STDOUT)
    yield process, port, tmp_path / "run.log"
    if process.poll() is None:
        process.kill()
        process.wait(10)
    log.close()


def test_serves_the_admin_and_stops_it_on_sigterm(run_admin):
    process, port, log = run_admin
    wait_until(lambda: answers(port), timeout=30, message="the admin answering")
    assert f"the admin on http://127.0.0.1:{port}" in log.read_text()
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0, log.read_text()
    assert not answers(port), "the admin outlived jobu run"


def test_a_killed_jobu_run_takes_the_admin_with_it(run_admin):
    process, port, log = run_admin
    wait_until(lambda: answers(port), timeout=30, message="the admin answering")
    process.kill()
    process.wait(10)
    wait_until(lambda: not answers(port), timeout=40,
               message="the admin gone after jobu run was killed")
