"""/login and /logout: a session for a user of the jobs database, checked by jobu.operations.users.

The login page says how to make the first admin, since the package creates nobody.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request

from jobu.admin import access
from jobu.admin.security import Role, current_user, public, requires, sign_in, sign_out
from jobu.operations.users import authenticate

bp = Blueprint("signin", __name__)


def _local(target: str | None) -> str:
    """`target` if it is a path on this server, else the overview (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return "/"


@bp.get("/login")
@public
def login_form():
    if current_user() is not None:
        return redirect(_local(request.args.get("next")))
    return render_template("login.html", next=request.args.get("next", "/"), error=None)


@bp.post("/login")
@public
def login():
    name = request.form.get("name", "")
    user = authenticate(access.store(), name, request.form.get("password", ""))
    if user is None:
        return render_template("login.html", next=request.form.get("next", "/"), name=name,
                               error="Wrong name or password."), 401
    sign_in(user)
    return redirect(_local(request.form.get("next")))


@bp.post("/logout")
@requires(Role.VIEWER)
def logout():
    sign_out()
    return redirect("/login")
