"""Who may do what: signing in is required, roles are checked, forms carry CSRF tokens.

Every view says what it needs with a decorator (`requires(Role.OPERATOR, action=True)`)
or `public`, or `public_if("metrics_public")` (open when that admin.yaml switch is true); a
view that says nothing needs a signed-in viewer. One before-request gate applies, in order:

1. who is asking: an API token (``Authorization: Bearer …``) or the signed-in session;
2. nobody: pages redirect to /login, the API (and a `public_if` view, read by programs)
   answers 401;
3. a state-changing request (POST, PUT, PATCH, DELETE) by a session must carry the
   session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``): 400;
   a request with an API token carries no cookie, so a forged page cannot send one;
4. an action when admin.yaml says ``read_only: true``: 403 for everyone;
5. a role below the one needed: 403.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask, current_app, g, redirect, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from jobu.admin import access
from jobu.admin.refusals import refuse
from jobu.config import AdminConfig, Config
from jobu.errors import ConfigError
from jobu.operations.users import AdminUser, Role, find_user, user_for_api_token

#: The file in the state directory that keeps the generated signing key when admin.yaml
#: names none, so that every gunicorn worker and every restart signs sessions alike.
SECRET_KEY_FILE = "admin-secret-key"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Access:
    """What a view needs: a role (None: nobody signed in needed) and whether it changes
    something (refused in read-only mode)."""

    role: Role | None
    action: bool = False
    #: The boolean of admin.yaml (an AdminConfig field) that opens this view to everyone when
    #: true; such a view is read by programs, so without it a signed-out request gets 401.
    opened_by: str | None = None


#: The access of a view that declares none.
DEFAULT_ACCESS = Access(Role.VIEWER)
PUBLIC = Access(None)


def requires(role: Role, *, action: bool = False) -> Callable:
    """Declare that a view needs `role`; `action` marks views that change something."""
    def mark(view: Callable) -> Callable:
        view.jobu_access = Access(role, action)
        return view
    return mark


def public(view: Callable) -> Callable:
    """Declare that a view is open to everyone (sign-in, /health)."""
    view.jobu_access = PUBLIC
    return view


def public_if(setting: str, *, otherwise: Role = Role.VIEWER) -> Callable:
    """Declare a view open to everyone when admin.yaml's boolean `setting` is true, and
    needing `otherwise` (a session or an API token) when it is not (/metrics)."""
    def mark(view: Callable) -> Callable:
        view.jobu_access = Access(otherwise, opened_by=setting)
        return view
    return mark


def access_of(app: Flask, endpoint: str) -> Access:
    return getattr(app.view_functions[endpoint], "jobu_access", DEFAULT_ACCESS)


def is_open(needed: Access) -> bool:
    """Whether a view of this access needs nobody signed in, with this admin's configuration."""
    return needed.role is None or (
        needed.opened_by is not None and bool(getattr(access.config().admin, needed.opened_by)))


def current_user() -> AdminUser | None:
    return g.get("user")


def secret_key(config: Config) -> str:
    """admin.yaml's secret key, or one generated once into the state directory (mode 0600)."""
    if config.admin.secret_key:
        return config.admin.secret_key
    path = Path(config.state_dir) / SECRET_KEY_FILE
    try:
        if not path.exists():
            _write_once(path, secrets.token_urlsafe(48))
        return path.read_text().strip()
    except OSError as error:
        raise ConfigError(
            f"admin.yaml: secret_key: none is set and {path} cannot be used ({error.strerror});"
            " set secret_key_file or secret_key_env, or make the state directory writable"
        ) from None


def _write_once(path: Path, text: str) -> None:
    """Make `path` hold `text` (mode 0600) unless another process made it first. gunicorn's
    workers start together: the file appears whole (a link to a finished file) or not at all,
    and whoever comes second keeps the first one's key, so every worker signs alike."""
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        with contextlib.suppress(FileExistsError):  # another worker's key is the one
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def csrf_token() -> str:
    """This session's CSRF token (made on first use); every form sends it back."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def sign_in(user: AdminUser) -> None:
    """Start a fresh session for `user` (a new CSRF token too: no fixation)."""
    session.clear()
    session["user"] = user.name
    session["csrf"] = secrets.token_urlsafe(32)


def sign_out() -> None:
    session.clear()


def _identify() -> tuple[AdminUser | None, bool]:
    """The user making this request, and whether they came with an API token."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return user_for_api_token(access.store(), header[len("Bearer "):].strip()), True
    name = session.get("user")
    if name is None:
        return None, False
    user = find_user(access.store(), name)
    if user is None:
        session.clear()  # removed since signing in
    return user, False


def _csrf_ok() -> bool:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def gate() -> Any:
    """The before-request check described in this module's docstring."""
    if request.endpoint is None or request.endpoint == "static":
        return None
    needed = access_of(current_app, request.endpoint)
    if needed == PUBLIC and request.endpoint.startswith("health."):
        return None
    if needed.opened_by is not None and is_open(needed):
        return None  # opened by admin.yaml: nobody is asked who they are
    g.user, g.via_token = _identify()
    if needed.role is not None and g.user is None:
        if is_api_request() or g.via_token or needed.opened_by is not None:
            return refuse(401, "unauthenticated",
                          "sign in, or send an API token: Authorization: Bearer <token> "
                          "(jobu admin user token NAME makes one)")
        return redirect(f"/login?next={quote(request.full_path.rstrip('?'), safe='/')}")
    if request.method in UNSAFE_METHODS and not g.via_token and not _csrf_ok():
        return refuse(400, "csrf", "the form's security token is missing or out of date; "
                                   "reload the page and send it again")
    if needed.action and access.read_only():
        return refuse(403, "read_only", "this admin is read-only (read_only: true in "
                                        "admin.yaml): it shows everything and changes nothing")
    if needed.role is not None and not g.user.role.allows(needed.role):
        return refuse(403, "forbidden", f"this needs the {needed.role} role; you are "
                                        f"{g.user.name} ({g.user.role})")
    return None


def security_headers(response: Any) -> Any:
    """No framing, no sniffing, and nothing loaded from anywhere but this server."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, with the Secure flag decided per request when
    admin.yaml says ``secure_cookies: auto`` (Flask's SESSION_COOKIE_SECURE is one value for
    every request): set when the request came over HTTPS, as the browser then sends it back."""

    def __init__(self, secure: str) -> None:
        self.secure = secure

    def get_cookie_secure(self, app: Flask) -> bool:
        if self.secure == "auto":
            return request.is_secure
        return self.secure == "true"


def init_transport(app: Flask, settings: AdminConfig) -> None:
    """admin.yaml's `secure_cookies`, and `proxy_headers`: trust one reverse proxy's
    X-Forwarded-Proto, -For and -Host, so that a request it received over TLS is HTTPS here
    (Secure cookies, HSTS) and the client's address is the one the audit log records."""
    app.session_interface = SessionCookies(settings.secure_cookies)
    if settings.proxy_headers:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)


def init_app(app: Flask) -> None:
    app.before_request(gate)
    app.after_request(security_headers)
    app.jinja_env.globals.update(csrf_token=csrf_token, current_user=current_user,
                                 read_only=access.read_only, Role=Role)


__all__ = ["Access", "access_of", "csrf_token", "current_user", "init_app", "init_transport",
           "is_open", "public",
           "public_if", "requires", "secret_key", "sign_in", "sign_out"]
