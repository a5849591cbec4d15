"""The audit log: how a view declares what it records, the hook that records it, and /audit.

Every view that changes something (POST, PUT, PATCH, DELETE) says so with ``@audited(…)``
beside its ``@requires(…)``; `record_audited` (an after-request hook) writes one row when
the view succeeded, so no view writes the log itself. Sign-in and sign-out record their own
rows (``@audited_in_view``), since a failed sign-in is worth a row too.
`tests/integration/test_admin_audit.py` fails for a state-changing route without either.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, current_app, render_template, request, url_for

from jobu.admin import access
from jobu.admin.security import Role, current_user, requires
from jobu.errors import InvalidInputError, JobuError
from jobu.operations import audit

bp = Blueprint("audit", __name__)
log = logging.getLogger("jobu.admin.audit")

#: The query parameters of /audit that filter the list.
FILTERS = ("actor", "action", "target")

#: What a declaration reads from the finished request: a value for the row, or None.
Reader = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class AuditDeclaration:
    """What a view records when it succeeds.

    `target` names the URL variable that says what was changed (a cron's name, an id), or
    reads it from the response; `detail` reads a short text from the response; `refused`
    recognises an answer that looks like a success (a redirect) but says no.
    """

    action: str | None
    target: str | Reader | None = None
    detail: Reader | None = None
    refused: Callable[[Any], bool] | None = None


#: The declaration of views that write their own rows (sign-in, sign-out).
RECORDED_IN_VIEW = AuditDeclaration(action=None)


def audited(action: str, *, target: str | Reader | None = None, detail: Reader | None = None,
            refused: Callable[[Any], bool] | None = None) -> Callable:
    """Declare that a view, when it succeeds, records `action` in the audit log."""
    def mark(view: Callable) -> Callable:
        view.jobu_audit = AuditDeclaration(action, target, detail, refused)
        return view
    return mark


def audited_in_view(view: Callable) -> Callable:
    """Declare that a view writes its own audit rows (it records failures too)."""
    view.jobu_audit = RECORDED_IN_VIEW
    return view


def audit_of(app: Flask, endpoint: str) -> AuditDeclaration | None:
    return getattr(app.view_functions[endpoint], "jobu_audit", None)


# --- readers for declarations ---------------------------------------------------------------


def posted_name(response: Any) -> str | None:
    """The `name` the form or the JSON body sent (a new cron's name)."""
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict) and isinstance(body.get("name"), str):
        return body["name"]
    return request.form.get("name") or None


def renamed_to(response: Any) -> str | None:
    """"renamed to NEW" when an edit changed the cron's name, else nothing."""
    new = posted_name(response)
    old = (request.view_args or {}).get("name")
    return f"renamed to {new}" if new and old and new != old else None


def execution_made(response: Any) -> str | None:
    """"execution N" for the execution a run-now or replay made: the API's `execution_id`,
    or the job page a form was sent on to."""
    if response.is_json:
        found = (response.get_json(silent=True) or {}).get("execution_id")
        return None if found is None else f"execution {found}"
    matched = re.search(r"/jobs/(\d+)$", response.headers.get("Location", ""))
    return f"execution {matched.group(1)}" if matched else None


#: The filter keys of a bulk action (the /jobs list's), in the order a row shows them.
BULK_FILTER_KEYS = ("status", "cron", "handler", "source", "from", "to")


def bulk_filter(response: Any) -> str | None:
    """The filter a bulk retry or cancel matched ("status=FAILED cron=nightly", "every
    job"), and with the API's answer how many it did of how many matched."""
    body = request.get_json(silent=True) if request.is_json else None
    sent = body if isinstance(body, dict) else request.form
    words = [f"{key}={sent[key]}" for key in BULK_FILTER_KEYS if sent.get(key)]
    text = " ".join(words) or "every job"
    if response.is_json:
        outcome = response.get_json(silent=True) or {}
        if "done" in outcome and "matched" in outcome:
            text += f"; done {outcome['done']} of {outcome['matched']}"
    return text


def back_to(endpoint: str) -> Callable[[Any], bool]:
    """Refused when the page sent the user back to `endpoint` (of the same object): the
    redirect a page answers a refusal with, its reason in a flash message."""
    def refused(response: Any) -> bool:
        expected = url_for(endpoint, **(request.view_args or {}))
        return response.headers.get("Location", "").split("?")[0].endswith(expected)
    return refused


# --- the hook -------------------------------------------------------------------------------


def source() -> str:
    """"api" for the JSON API, "admin" for the pages."""
    return "api" if request.path.startswith("/api/") else "admin"


def succeeded(status: int) -> bool:
    """Whether an answer says the change was made: the API answers it with 2xx; a page
    with a redirect, since a page that answers 200 to a form showed it again (a refusal
    beside its field, a preview of fire times) and changed nothing."""
    if source() == "api":
        return 200 <= status < 300
    return 300 <= status < 400


def record_audited(response: Any) -> Any:
    """After a view declared @audited succeeded (see `succeeded`, and not a redirect its
    declaration calls a refusal), write its row. A row that cannot be written is logged, not
    answered: the change it records has been made already."""
    if request.endpoint is None or request.endpoint not in current_app.view_functions:
        return response
    declared = audit_of(current_app, request.endpoint)
    user = current_user()
    if declared is None or declared.action is None or user is None \
            or not succeeded(response.status_code) \
            or (declared.refused is not None and declared.refused(response)):
        return response
    target = declared.target
    if isinstance(target, str):
        target = (request.view_args or {}).get(target)
    elif target is not None:
        target = target(response)
    try:
        audit.record(access.store(), actor=user.name, action=declared.action, source=source(),
                     target=None if target is None else str(target),
                     address=request.remote_addr,
                     detail=declared.detail(response) if declared.detail else None)
    except JobuError:
        log.exception("could not write the audit row of %s %s by %s", declared.action,
                      target, user.name)
    return response


def init_app(app: Flask) -> None:
    app.after_request(record_audited)


# --- the page -------------------------------------------------------------------------------


def page_filters() -> dict[str, str]:
    return {name: request.args.get(name, "").strip() for name in FILTERS}


@bp.get("/audit")
@requires(Role.ADMIN)
def list_page():
    filters = page_filters()
    before = request.args.get("before", "")
    error, page = None, None
    try:
        if before and not before.isdigit():
            raise InvalidInputError(f"before must be an audit row's id, got {before!r}")
        page = audit.list_audit(access.store(), actor=filters["actor"] or None,
                                action=filters["action"] or None,
                                target=filters["target"] or None, limit=access.page_size(),
                                before_id=int(before) if before else None)
    except InvalidInputError as refused:
        error = str(refused)
    return render_template("audit.html", page=page, filters=filters, error=error,
                           filtered=any(filters.values())), 200 if error is None else 400


__all__ = ["AuditDeclaration", "audit_of", "audited", "audited_in_view", "back_to",
           "execution_made", "init_app", "posted_name", "renamed_to"]
