"""Sign-in rate limiting on SQLite, PostgreSQL and MariaDB: after login_attempts failed
sign-ins for one user name, or from one client address, within login_window_seconds, a
sign-in is refused with 429 and Retry-After without its password being checked. The failures
are counted from the audit log, so a second application (another gunicorn worker process)
refuses alike.
"""

from __future__ import annotations

import html
from datetime import timedelta

import pytest

from jobu.admin import create_app
from jobu.operations import audit
from tests.support.admin_site import PASSWORD, AdminSite

ATTACKER = "203.0.113.9"
ELSEWHERE = "192.0.2.44"


@pytest.fixture
def site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path, login_attempts=3, login_window_seconds=600)
    yield site
    site.close()


def sign_in(site: AdminSite, name: str, password: str, address: str, app=None):
    client = (app or site.app).test_client()
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf_token": site.csrf(client)},
                       environ_base={"REMOTE_ADDR": address})


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_failures_for_a_name_refuse_it_with_429_and_retry_after(site):
    for _ in range(3):
        assert sign_in(site, "viewer", "wrong password", ATTACKER).status_code == 401

    refused = sign_in(site, "viewer", PASSWORD, ELSEWHERE)  # the right password, elsewhere
    assert refused.status_code == 429
    assert 590 <= int(refused.headers["Retry-After"]) <= 600
    assert "Too many failed sign-ins for this name or from this address" in text_of(refused)
    # Another user from another address is not held back.
    assert sign_in(site, "operator", PASSWORD, ELSEWHERE).status_code == 302


def test_failures_from_an_address_refuse_every_name_from_it(site):
    for name in ("alice", "bob", "carol"):
        assert sign_in(site, name, "wrong password", ATTACKER).status_code == 401

    assert sign_in(site, "admin", PASSWORD, ATTACKER).status_code == 429
    assert sign_in(site, "admin", PASSWORD, ELSEWHERE).status_code == 302


def test_another_process_counts_the_same_failures(site):
    other = create_app({"JOBU_CONFIG_DIR": site.directory, "TESTING": True})
    try:
        for app in (site.app, other, site.app):
            assert sign_in(site, "viewer", "wrong password", ATTACKER, app).status_code == 401
        assert sign_in(site, "viewer", PASSWORD, ELSEWHERE, other).status_code == 429
    finally:
        other.extensions["jobu"]["store"].close()


def test_a_success_resets_nobody_and_refused_attempts_do_not_extend_the_window(site, store):
    for _ in range(2):
        sign_in(site, "viewer", "wrong password", ATTACKER)
    assert sign_in(site, "operator", PASSWORD, ATTACKER).status_code == 302
    assert sign_in(site, "viewer", "wrong password", ATTACKER).status_code == 401
    assert sign_in(site, "viewer", PASSWORD, ELSEWHERE).status_code == 429
    assert sign_in(site, "viewer", PASSWORD, ELSEWHERE).status_code == 429

    actions = [entry.action for entry in audit.list_audit(store, target="viewer").items]
    assert actions.count(audit.SIGN_IN_FAILED) == 3
    assert actions.count(audit.SIGN_IN_LIMITED) == 2


def test_failures_older_than_the_window_do_not_count(site, store):
    long_ago = store.database_now() - timedelta(seconds=601)
    for _ in range(3):
        audit.record(store, actor=None, action=audit.SIGN_IN_FAILED, source="admin",
                     target="viewer", address=ATTACKER, now=long_ago)
    assert sign_in(site, "viewer", PASSWORD, ATTACKER).status_code == 302


def test_retry_after_counts_from_the_failure_that_must_leave_the_window(store):
    now = store.database_now()
    for minutes in (9, 5, 2):  # 3 failures: the limit (3) is free once the oldest leaves
        audit.record(store, actor=None, action=audit.SIGN_IN_FAILED, source="admin",
                     target="viewer", address=ATTACKER, now=now - timedelta(minutes=minutes))
    wait = audit.sign_in_retry_after(store, name="viewer", address=None, attempts=3,
                                     window_seconds=600, now=now)
    assert wait == 60
    assert audit.sign_in_retry_after(store, name="viewer", address=None, attempts=4,
                                     window_seconds=600, now=now) is None
    assert audit.sign_in_retry_after(store, name="viewer", address=None, attempts=2,
                                     window_seconds=600, now=now) == 300
