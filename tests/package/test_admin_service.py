"""jobu-admin.service, installed: once the administrator added a user and started it, gunicorn
serves the pages (templates and stylesheet from the package) and the API, on a port or on a unix
socket in /run/jobu-admin, and reload and stop are clean."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.package.conftest import Container, wait_until
from tests.support.kafka import free_port

UNIT = "jobu-admin.service"
PASSWORD = "e2e-admin-password"

# Run in the container with the package's python3: an HTTP request to the admin, by TCP or by
# unix socket; prints {"status": ..., "body": ...}.
REQUEST = r"""
import http.client, json, socket, sys
target, method, path, token, body = sys.argv[1:6]
if target.startswith("unix:"):
    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(target[5:])
    connection = UnixConnection("localhost", timeout=10)
else:
    host, port = target.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
headers = {"Authorization": f"Bearer {token}"} if token else {}
if body:
    headers["Content-Type"] = "application/json"
connection.request(method, path, body=body or None, headers=headers)
response = connection.getresponse()
print(json.dumps({"status": response.status, "body": response.read().decode()}))
"""


class Admin:
    def __init__(self, ct: Container, target: str, token: str) -> None:
        self.ct, self.target, self.token = ct, target, token

    def request(self, method: str, path: str, body: dict | None = None, *,
                signed_in: bool = True) -> tuple[int, str]:
        result = self.ct.run(["python3", "-c", REQUEST, self.target, method, path,
                              self.token if signed_in else "", json.dumps(body) if body else ""],
                             check=False)
        if result.returncode != 0:
            pytest.fail(f"{method} {path}: {result.stderr.strip().splitlines()[-1:]}\n"
                        + self.ct.why(UNIT), pytrace=False)
        answer = json.loads(result.stdout)
        return answer["status"], answer["body"]

    def answers(self) -> bool:
        result = self.ct.run(["python3", "-c", REQUEST, self.target, "GET", "/health", "", ""],
                             check=False)
        return result.returncode == 0 and json.loads(result.stdout)["status"] == 200


@pytest.fixture
def admin_user(ct: Container) -> Iterator[str]:
    """An admin user, made as the unit's header says; an API token for it."""
    ct.run(["runuser", "-u", "jobu", "--", "jobu", "admin", "user", "add", "e2e", "--role",
            "admin"], input=f"{PASSWORD}\n")
    try:
        yield ct.out(["runuser", "-u", "jobu", "--", "jobu", "admin", "user", "token", "e2e"])
    finally:
        ct.run(["runuser", "-u", "jobu", "--", "jobu", "admin", "user", "remove", "e2e"],
               check=False)


def _serve(ct: Container, config, admin_user: str, bind: str) -> Iterator[Admin]:
    config.sed("/etc/jobu/admin.yaml", f"s|^bind: .*|bind: {bind}|")
    ct.start(UNIT)
    try:
        yield Admin(ct, bind, admin_user)
    finally:
        ct.run(["systemctl", "stop", UNIT], check=False, timeout=100)


@pytest.fixture
def admin(services_up: Container, config, admin_user: str) -> Iterator[Admin]:
    """jobu-admin started on a free loopback port (the container shares the host's network)."""
    yield from _serve(services_up, config, admin_user, f"127.0.0.1:{free_port()}")


def test_start_waits_for_gunicorn_to_listen(admin: Admin) -> None:
    """Type=notify: `systemctl start` returned once gunicorn listened, so it answers at once."""
    ct = admin.ct
    assert ct.unit_state(UNIT) == "active/running", ct.why(UNIT)
    status = ct.unit_property(UNIT, "StatusText")
    print(f"{UNIT}: {status}")
    assert status.startswith(f"serving on http://{admin.target} ")
    code, body = admin.request("GET", "/health", signed_in=False)
    assert code == 200 and json.loads(body)["status"] == "ok", body


def test_pages_and_stylesheet_come_from_the_package(admin: Admin) -> None:
    code, page = admin.request("GET", "/login", signed_in=False)
    assert code == 200 and 'name="csrf_token"' in page, page[:500]
    code, css = admin.request("GET", "/static/admin.css", signed_in=False)
    assert code == 200 and "{" in css


def test_a_cron_made_through_the_api_runs_now(admin: Admin) -> None:
    """The API with the user's token: add a cron, run it now, the worker runs it, delete it."""
    code, body = admin.request("POST", "/api/v1/crons", {
        "name": "e2e-admin", "schedule": "0 4 * * *", "handler_name": "noop"})
    assert code == 201, body
    try:
        code, body = admin.request("POST", "/api/v1/crons/e2e-admin/run")
        assert code == 201, body
        execution_id = str(json.loads(body)["execution_id"])
        assert admin.ct.wait_finished(execution_id)["status"] == "SUCCESS"
        code, body = admin.request("GET", f"/api/v1/jobs/{execution_id}")
        assert code == 200 and json.loads(body)["execution"]["status"] == "SUCCESS", body
        code, body = admin.request("GET", "/api/v1/crons/e2e-admin", signed_in=False)
        assert code == 401, body
    finally:
        admin.request("DELETE", "/api/v1/crons/e2e-admin")


def test_reload_starts_new_workers_in_the_same_process(admin: Admin) -> None:
    ct = admin.ct
    pid = ct.unit_property(UNIT, "MainPID")
    since = ct.cursor()
    ct.run(["systemctl", "reload", UNIT])
    wait_until(lambda: "Booting worker" in ct.journal(UNIT, since=since), 30,
               "gunicorn's new workers after the reload")
    assert ct.unit_property(UNIT, "MainPID") == pid
    wait_until(admin.answers, 30, "the admin answering after its reload")


def test_stop_is_clean_and_the_requests_are_in_the_journal(admin: Admin) -> None:
    ct = admin.ct
    admin.request("GET", "/health", signed_in=False)
    since = ct.cursor()
    ct.run(["systemctl", "stop", UNIT], timeout=100)
    journal = ct.journal(UNIT, since=since)
    print(journal)
    assert ct.is_active(UNIT) == "inactive"
    assert not re.search(r"timed out|Killing|Failed with result|code=killed", journal), journal
    assert re.search(r'"GET /health HTTP/1\.[01]" 200', ct.journal(UNIT)), \
        "gunicorn's access log is not in the journal"


def test_unix_socket_in_its_runtime_directory(services_up: Container, config,
                                              admin_user: str) -> None:
    """bind: unix:/run/jobu-admin/admin.sock, the one socket place the sandbox leaves."""
    for admin in _serve(services_up, config, admin_user, "unix:/run/jobu-admin/admin.sock"):
        code, body = admin.request("GET", "/api/v1/status")
        assert code == 200, body
        mode = services_up.out(["stat", "-c", "%a %U:%G", "/run/jobu-admin"])
        assert mode == "750 jobu:jobu", mode
