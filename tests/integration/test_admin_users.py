"""Users of the admin on SQLite, PostgreSQL and MariaDB: `jobu admin user …`, signing in with
what it made, and what removing a user does to their session and token."""

from __future__ import annotations

import io
import json

import pytest

from jobu.cli import main
from jobu.operations.users import Role, hash_password, verify_password
from tests.conftest import spec_url
from tests.support.admin_site import PASSWORD, AdminSite


@pytest.fixture
def site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path)
    yield site
    site.close()


@pytest.fixture
def jobu(site, db_spec, monkeypatch, capsys):
    """`jobu …` in this process on the test's database; (exit code, stdout, stderr)."""
    monkeypatch.setenv("JOBU_DATABASE_URL", spec_url(db_spec))

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main(["--config-dir", str(site.directory), *argv])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_users_are_added_listed_signed_in_given_tokens_and_removed(site, store, jobu):
    code, out, _ = jobu("admin", "user", "add", "alice", "--role", "operator",
                        stdin="a long enough password\n")
    assert (code, out) == (0, "added alice (operator)\n")
    stored = store.admin_user_get("alice")
    assert stored["role"] == "operator" and "long enough" not in stored["password_hash"]

    code, out, _ = jobu("admin", "user", "list", "--json")
    listed = {user["name"]: user for user in json.loads(out)}
    assert listed["alice"]["role"] == "operator" and listed["alice"]["has_api_token"] is False

    client = site.app.test_client()
    signed_in = client.post("/login", data={"name": "alice", "password": "a long enough password",
                                            "csrf_token": site.csrf(client)})
    assert signed_in.status_code == 302 and client.get("/crons").status_code == 200

    code, token, _ = jobu("admin", "user", "token", "alice")
    token = token.strip()
    assert code == 0 and token.startswith("jobu_") and store.admin_user_get("alice")[
        "api_token_hash"] not in (None, token)
    api = site.app.test_client()
    assert api.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"}
                   ).status_code == 200

    assert jobu("admin", "user", "remove", "alice")[0] == 0
    assert store.admin_user_get("alice") is None
    assert client.get("/crons").headers["Location"].startswith("/login")  # session ended
    assert api.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"}
                   ).status_code == 401


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_bad_users_are_refused_with_a_sentence_and_exit_code(jobu):
    assert jobu("admin", "user", "add", "viewer", "--role", "viewer", stdin="x" * 12) == (
        1, "", "jobu: an admin user named 'viewer' already exists\n")
    code, _, err = jobu("admin", "user", "add", "bob", "--role", "admin", stdin="short\n")
    assert code == 65 and "at least 10 characters" in err
    code, _, err = jobu("admin", "user", "add", "b o b", "--role", "admin", stdin="x" * 12)
    assert code == 65 and "user name 'b o b' is not valid" in err
    code, _, err = jobu("admin", "user", "remove", "nobody")
    assert code == 66 and "jobu admin user list" in err
    code, _, err = jobu("admin", "user", "passwd", "operator", stdin="another password\n")
    assert code == 0


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_signing_in_with_a_wrong_password_is_refused_and_says_how_to_start(site):
    client = site.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "jobu admin user add NAME --role admin" in page
    for name, password in (("admin", "wrong password"), ("nobody", PASSWORD)):
        response = client.post("/login", data={"name": name, "password": password,
                                                "csrf_token": site.csrf(client)})
        assert response.status_code == 401 and "Wrong name or password" in response.get_data(
            as_text=True)
    assert client.get("/crons").status_code == 302


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_sign_in_redirects_only_within_the_admin(site):
    client = site.app.test_client()
    for target, expected in (("/jobs?status=failed", "/jobs?status=failed"),
                             ("//evil.example", "/"), ("https://evil.example", "/")):
        client.post("/logout", data={"csrf_token": site.csrf(client)})
        client.jobu_csrf = None
        response = client.post("/login", data={"name": "viewer", "password": PASSWORD,
                                                "next": target, "csrf_token": site.csrf(client)})
        assert response.headers["Location"] == expected
        client.jobu_csrf = None


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_pages_carry_security_headers_and_a_safe_session_cookie(site):
    client = site.app.test_client()
    response = client.get("/login")
    # Scripts only from the admin's own static files: nothing inline, nothing from elsewhere.
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert Role.ADMIN.allows(Role.OPERATOR) and not Role.VIEWER.allows(Role.OPERATOR)


def test_password_hashes_are_salted_and_checked():
    first, second = hash_password("a long enough password"), hash_password(
        "a long enough password")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("a long enough password", first)
    assert not verify_password("a long enough passwore", first)
    assert not verify_password("anything", "not-a-hash")
