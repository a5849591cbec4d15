"""Who may reach what: every route × method × role of the admin, generated from its URL map.

The matrix is built from the application itself, so a route added later is covered
without touching this file: each view declares what it needs (admin.security), and
every role, signed out included, is allowed or refused exactly as declared. State-
changing requests are also refused without a CSRF token, and every action is refused
in read-only mode. The rules do not depend on the database, so this runs on SQLite.
"""

from __future__ import annotations

import pytest

from jobu.admin import create_app
from jobu.admin.security import PUBLIC, UNSAFE_METHODS, access_of, is_open
from jobu.model import NewExecution
from jobu.operations.users import Role
from tests.conftest import spec_url
from tests.support.admin_site import ROLES, AdminSite, config_dir

pytestmark = pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)

#: The values that fill URL variables: a cron and an execution that exist.
URL_VALUES = {"name": "nightly", "execution_id": "1", "dead_letter_id": "1"}


def routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) of every route, variables filled in."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        url = rule.rule
        for variable in rule.arguments:
            url = url.replace(f"<{variable}>", URL_VALUES[variable]).replace(
                f"<int:{variable}>", URL_VALUES[variable])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, url))
    return sorted(found)


@pytest.fixture
def site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path)
    yield site
    site.close()


@pytest.fixture
def read_only_site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path, read_only=True)
    yield site
    site.close()


def seed(site: AdminSite) -> None:
    """Before each request: the cron and the execution the URLs name exist again."""
    from jobu.model import CronSpec
    from jobu.store import Store
    store: Store = site.store
    try:
        store.cron_get("nightly")
    except LookupError:
        store.cron_create(CronSpec(name="nightly", schedule="0 3 * * *", handler_name="report"))
    try:
        store.execution_get(1)
    except LookupError:
        store.execution_insert(NewExecution(handler_name="report"))


def send(site: AdminSite, role: Role | None, method: str, url: str, *, csrf: bool = True):
    client = site.client(role)
    headers = {"X-CSRF-Token": site.csrf(client)} if csrf else {}
    if method in UNSAFE_METHODS and url.startswith("/api/"):
        return client.open(url, method=method, json={}, headers=headers)
    data = {"csrf_token": headers["X-CSRF-Token"]} if headers and method == "POST" else None
    return client.open(url, method=method, data=data)


def refused_how(response) -> str:
    """'login' (sent to sign in), 'unauthenticated', 'csrf', 'forbidden', 'read_only', or
    'allowed' for anything else (a page, a redirect, a 404 or 422 of the use case)."""
    if response.status_code == 302 and response.headers["Location"].startswith("/login"):
        return "login"
    if response.status_code in (400, 401, 403):
        body = response.get_json(silent=True)
        if body is not None:
            return body["error"]["code"]
        text = response.get_data(as_text=True)
        for code in ("csrf", "read_only", "forbidden", "unauthenticated"):
            if f'data-code="{code}"' in text:
                return code
        return "allowed"  # a page that answered itself: a refused filter, a wrong password
    return "allowed"


def expected(app, endpoint: str, url: str, role: Role | None) -> str:
    needed = access_of(app, endpoint)
    if needed == PUBLIC:
        return "allowed"
    if needed.opened_by is not None:  # read by programs: open as configured, else 401
        with app.app_context():
            if is_open(needed):
                return "allowed"
    if role is None:
        return ("unauthenticated" if url.startswith("/api/") or needed.opened_by is not None
                else "login")
    return "allowed" if role.allows(needed.role) else "forbidden"


def test_every_route_allows_and_refuses_each_role_as_declared(site):
    matrix = [(endpoint, method, url, role) for endpoint, method, url in routes(site.app)
              for role in ROLES]
    assert len(matrix) > 100
    wrong = []
    for endpoint, method, url, role in matrix:
        if endpoint == "signin.logout":
            continue  # signing out ends the client's session; checked on its own below
        seed(site)
        got = refused_how(send(site, role, method, url))
        want = expected(site.app, endpoint, url, role)
        if got != want:
            wrong.append(f"{method} {url} as {role}: {got}, expected {want}")
    assert not wrong, "\n".join(wrong)


def test_signing_out_needs_a_session_and_its_token(site):
    assert refused_how(site.client(None).post("/logout")) == "login"
    viewer = site.client(Role.VIEWER)
    assert refused_how(viewer.post("/logout")) == "csrf"
    response = viewer.post("/logout", data={"csrf_token": site.csrf(viewer)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert refused_how(viewer.get("/crons")) == "login"


def test_every_state_changing_request_without_a_csrf_token_is_refused(site):
    unsafe = [(endpoint, method, url) for endpoint, method, url in routes(site.app)
              if method in UNSAFE_METHODS and access_of(site.app, endpoint) != PUBLIC]
    assert unsafe
    for _endpoint, method, url in unsafe:
        seed(site)
        response = send(site, Role.ADMIN, method, url, csrf=False)
        assert refused_how(response) == "csrf", (method, url, response.status_code)
    seed(site)
    assert site.store.cron_get("nightly").is_enabled


def test_sign_in_form_needs_its_csrf_token(site):
    response = site.client(None).post("/login", data={"name": "admin",
                                                      "password": "correct horse battery"})
    assert refused_how(response) == "csrf"


def test_read_only_refuses_every_action_to_everyone(read_only_site):
    site = read_only_site
    actions = [(endpoint, method, url) for endpoint, method, url in routes(site.app)
               if access_of(site.app, endpoint).action]
    assert len(actions) >= 15
    for _endpoint, method, url in actions:
        for role in Role:
            seed(site)
            response = send(site, role, method, url)
            assert refused_how(response) == "read_only", (method, url, role,
                                                          response.status_code)
    assert site.store.cron_get("nightly").is_enabled
    assert site.store.execution_get(1).status == "PENDING"
    # reading still works
    assert site.client(Role.VIEWER).get("/crons").status_code == 200


def test_a_view_admin_yaml_opens_is_open_to_everyone_only_when_it_says_so(site, db_spec,
                                                                        tmp_path):
    opened = [(endpoint, url) for endpoint, method, url in routes(site.app)
              if access_of(site.app, endpoint).opened_by is not None]
    assert ("metrics.metrics", "/metrics") in opened
    for _endpoint, url in opened:
        assert refused_how(site.client(None).get(url)) == "unauthenticated", url
    open_app = create_app({"JOBU_CONFIG_DIR": config_dir(tmp_path / "open", spec_url(db_spec),
                                                         metrics_public=True), "TESTING": True})
    try:
        for _endpoint, url in opened:
            assert refused_how(open_app.test_client().get(url)) == "allowed", url
    finally:
        open_app.extensions["jobu"]["store"].close()
