"""The session cookie's flags and a reverse proxy's headers (admin.yaml `secure_cookies`,
`proxy_headers`): Secure when the request came over HTTPS (directly, or through a proxy that
says so and is trusted), HttpOnly and SameSite=Lax always; with `proxy_headers` the audit log
records the client's address the proxy forwarded. The rules do not depend on the database, so
this runs on SQLite.
"""

from __future__ import annotations

import pytest

from jobu.admin import create_app
from jobu.operations import audit
from tests.conftest import spec_url
from tests.support.admin_site import PASSWORD, AdminSite, config_dir

pytestmark = pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)

PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.23",
           "X-Forwarded-Host": "jobs.example.org"}


@pytest.fixture
def make_site(store, db_spec, tmp_path):
    """An admin with these admin.yaml keys (its users made once, for every app)."""
    made = []

    def make(**admin):
        if not made:
            made.append(AdminSite.make(store, db_spec, tmp_path, **admin))
            return made[0]
        apps = tmp_path / f"again-{len(made)}"
        app = create_app({"JOBU_CONFIG_DIR": config_dir(apps, spec_url(db_spec), **admin),
                          "TESTING": True})
        made.append(AdminSite(app, store, apps))
        return made[-1]
    yield make
    for site in made:
        site.close()


def session_cookie(site: AdminSite, *, base_url: str = "http://localhost",
                   headers: dict | None = None) -> str:
    """The Set-Cookie header of a successful sign-in."""
    client = site.app.test_client()
    form = client.get("/login", base_url=base_url, headers=headers or {})
    token = form.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/login", base_url=base_url, headers=headers or {}, data={
        "name": "viewer", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    [cookie] = [value for value in response.headers.getlist("Set-Cookie")
                if value.startswith("session=")]
    return cookie


def flags(cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}


def test_auto_is_secure_over_https_only(make_site):
    site = make_site()
    assert "secure" not in flags(session_cookie(site))
    over_tls = flags(session_cookie(site, base_url="https://localhost"))
    assert {"secure", "httponly", "samesite"} <= over_tls
    assert "SameSite=Lax" in session_cookie(site, base_url="https://localhost")


def test_forwarded_proto_is_ignored_unless_proxy_headers_is_true(make_site, store):
    untrusted = make_site()
    assert "secure" not in flags(session_cookie(untrusted, headers=PROXIED))
    [row] = audit.list_audit(store, action=audit.SIGN_IN).items
    assert row.address == "127.0.0.1"

    trusted = make_site(proxy_headers=True)
    assert "secure" in flags(session_cookie(trusted, headers=PROXIED))
    newest = audit.list_audit(store, action=audit.SIGN_IN).items[0]
    assert newest.address == "198.51.100.23"
    assert "secure" not in flags(session_cookie(trusted))


def test_true_and_false_decide_alone(make_site):
    assert "secure" in flags(session_cookie(make_site(secure_cookies=True)))
    assert "secure" not in flags(session_cookie(make_site(secure_cookies=False),
                                                base_url="https://localhost"))
