"""/login and /logout: a session for a user of the jobs database, checked by jobu.operations.users.

The login page says how to make the first admin, since the package creates nobody. Each
sign-in, failed sign-in and sign-out is a row of the audit log, and the failed ones limit
further attempts (admin.yaml's login_attempts in login_window_seconds, per user name and per
client address): counted in the database, the limit holds across gunicorn's processes.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request

from jobu.admin import access
from jobu.admin.security import Role, current_user, public, requires, sign_in, sign_out
from jobu.admin.views.audit import audited_in_view, source
from jobu.operations import audit
from jobu.operations.users import authenticate

bp = Blueprint("signin", __name__)


def _local(target: str | None) -> str:
    """`target` if it is a path on this server, else the overview (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return "/"


def _record(action: str, *, actor: str | None, target: str | None) -> None:
    audit.record(access.store(), actor=actor, action=action, source=source(), target=target,
                 address=request.remote_addr)


@bp.get("/login")
@public
def login_form():
    if current_user() is not None:
        return redirect(_local(request.args.get("next")))
    return render_template("login.html", next=request.args.get("next", "/"), error=None)


@bp.post("/login")
@public
@audited_in_view
def login():
    name = request.form.get("name", "")
    settings = access.config().admin
    wait = audit.sign_in_retry_after(access.store(), name=name, address=request.remote_addr,
                                     attempts=settings.login_attempts,
                                     window_seconds=settings.login_window_seconds)
    if wait is not None:
        _record(audit.SIGN_IN_LIMITED, actor=None, target=name)
        page = render_template(
            "login.html", next=request.form.get("next", "/"), name=name,
            error=f"Too many failed sign-ins for this name or from this address. "
                  f"Try again in {wait} seconds.")
        return page, 429, {"Retry-After": str(wait)}
    user = authenticate(access.store(), name, request.form.get("password", ""))
    if user is None:
        _record(audit.SIGN_IN_FAILED, actor=None, target=name)
        return render_template("login.html", next=request.form.get("next", "/"), name=name,
                               error="Wrong name or password."), 401
    sign_in(user)
    _record(audit.SIGN_IN, actor=user.name, target=user.name)
    return redirect(_local(request.form.get("next")))


@bp.post("/logout")
@requires(Role.VIEWER)
@audited_in_view
def logout():
    user = current_user()
    sign_out()
    _record(audit.SIGN_OUT, actor=user.name if user else None,
            target=user.name if user else None)
    return redirect("/login")
