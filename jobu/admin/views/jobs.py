"""/jobs: the history of executions with filters (status, cron, handler, source, a time range)
and keyset pagination, one execution's page, the retry and cancel actions, and the bulk retry
and cancel of every execution a filter matches (jobu.operations.executions)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, render_template, request, url_for

from jobu import operations
from jobu.admin import access
from jobu.admin.security import Role, current_user, requires
from jobu.admin.views.audit import audited, bulk_filter
from jobu.errors import InvalidInputError
from jobu.model import ExecutionFilter, ParamSource, Status
from jobu.operations import executions

bp = Blueprint("jobs", __name__)

#: The query parameters of /jobs that filter the list (`from` and `to`: the time range).
FILTERS = ("status", "cron", "handler", "source", "from", "to")

#: The bulk actions: what each does to which executions, in the words of its pages.
BULK_ACTIONS = {
    "retry": {"verb": "Retry", "which": "finished", "count": "finished",
              "does": "run again from attempt 1"},
    "cancel": {"verb": "Cancel", "which": "waiting or running", "count": "waiting_or_running",
               "does": "be cancelled; the workers of running ones are asked to stop them"},
}


def page_filters(values: Any = None) -> dict[str, str]:
    """The filters as typed (the query string, or the bulk confirmation's form)."""
    values = request.args if values is None else values
    return {name: values.get(name, "").strip() for name in FILTERS}


def filter_arguments(filters: dict[str, str]) -> dict[str, Any]:
    """The typed filters as jobu.operations' keyword arguments; InvalidInputError naming the
    field (`from`, `to`) of a bad time."""
    return {"statuses": [filters["status"]] if filters["status"] else None,
            "cron_name": filters["cron"] or None, "handler_name": filters["handler"] or None,
            "source": filters["source"] or None,
            "since": executions.parse_time_bound(filters["from"], "from"),
            "until": executions.parse_time_bound(filters["to"], "to"),
            "since_name": "from", "until_name": "to"}


def query_of(filters: dict[str, str]) -> str:
    """The filters that are set, as a query string (for links that keep them)."""
    return urlencode({name: value for name, value in filters.items() if value})


def may_act() -> bool:
    user = current_user()
    return bool(user and user.role.allows(Role.OPERATOR) and not access.read_only())


#: What a date-time input shows and sends: a time without an offset, to the second at most.
_LOCAL_INPUT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


def _page_context(filters: dict[str, str]) -> dict[str, Any]:
    # A time with an offset (typed in the address, or from the API's links) stays in a text
    # input: a date-time input would show it blank and drop it from the next search.
    time_inputs = {name: "datetime-local" if not filters[name]
                   or _LOCAL_INPUT.fullmatch(filters[name]) else "text"
                   for name in ("from", "to")}
    return {"filters": filters, "time_inputs": time_inputs, "filtered": any(filters.values()),
            "query": query_of(filters),
            "statuses": [s.value for s in Status], "sources": [s.value for s in ParamSource],
            "limit": executions.BULK_ACTION_LIMIT}


@bp.get("/jobs")
def list_page():
    filters = page_filters()
    before = request.args.get("before", "")
    error, page, preview = None, None, None
    try:
        if before and not before.isdigit():
            raise InvalidInputError(f"before must be an execution id, got {before!r}")
        arguments = filter_arguments(filters)
        store = access.store()
        page = operations.list_executions(store, **arguments, limit=access.page_size(),
                                          before_id=int(before) if before else None)
        if any(filters.values()) and may_act():
            preview = executions.preview_bulk(store, executions.execution_filter(store,
                                                                                 **arguments))
    except (InvalidInputError, LookupError) as refused:
        error = str(refused)
    return render_template("jobs/list.html", page=page, error=error, preview=preview,
                           **_page_context(filters)), 200 if error is None else 400


@bp.get("/jobs/<int:execution_id>")
def detail(execution_id: int):
    store = access.store()
    found = operations.get_execution(store, execution_id)
    return render_template("jobs/detail.html", job=found.execution, errors=found.attempt_errors,
                           cron_name=found.execution.cron_name)


@bp.post("/jobs/<int:execution_id>/retry")
@requires(Role.OPERATOR, action=True)
@audited("job.retry", target="execution_id")
def retry(execution_id: int):
    operations.retry_execution(access.store(), execution_id)
    flash(f"Job {execution_id} will run again from attempt 1.")
    return redirect(url_for("jobs.detail", execution_id=execution_id))


@bp.post("/jobs/<int:execution_id>/cancel")
@requires(Role.OPERATOR, action=True)
@audited("job.cancel", target="execution_id")
def cancel(execution_id: int):
    job = operations.cancel_execution(access.store(), execution_id)
    if job.status == Status.CANCELLED:
        flash(f"Job {execution_id} cancelled.")
    else:
        flash(f"Job {execution_id} is running: its worker was asked to stop it.")
    return redirect(url_for("jobs.detail", execution_id=execution_id))


def _bulk_filter(filters: dict[str, str]) -> ExecutionFilter:
    store = access.store()
    return executions.execution_filter(store, **filter_arguments(filters))


def _confirm(action: str):
    """How many executions the filter matches and what `action` would do, before it does."""
    filters = page_filters()
    error, preview = None, None
    try:
        preview = executions.preview_bulk(access.store(), _bulk_filter(filters))
    except (InvalidInputError, LookupError) as refused:
        error = str(refused)
    return render_template("jobs/bulk.html", action=action, words=BULK_ACTIONS[action],
                           preview=preview, error=error,
                           **_page_context(filters)), 200 if error is None else 400


def _act(action: str):
    """Retry or cancel every execution the form's filter matches, then back to the list."""
    filters = page_filters(request.form)
    act = executions.retry_executions if action == "retry" else executions.cancel_executions
    outcome = act(access.store(), _bulk_filter(filters))
    words = BULK_ACTIONS[action]
    message = (f"{words['verb']}: {outcome.done:,} of {outcome.matched:,} matching jobs "
               f"{'will run again' if action == 'retry' else 'cancelled'}")
    if outcome.stopping:
        message += f" ({outcome.stopping:,} running: their workers were asked to stop them)"
    flash(f"{message}; {outcome.skipped:,} skipped (not {words['which']}).")
    query = query_of(filters)
    return redirect(url_for("jobs.list_page") + (f"?{query}" if query else ""))


@bp.get("/jobs/retry")
@requires(Role.OPERATOR, action=True)
def confirm_bulk_retry():
    return _confirm("retry")


@bp.post("/jobs/retry")
@requires(Role.OPERATOR, action=True)
@audited("job.retry_many", detail=bulk_filter)
def bulk_retry():
    return _act("retry")


@bp.get("/jobs/cancel")
@requires(Role.OPERATOR, action=True)
def confirm_bulk_cancel():
    return _confirm("cancel")


@bp.post("/jobs/cancel")
@requires(Role.OPERATOR, action=True)
@audited("job.cancel_many", detail=bulk_filter)
def bulk_cancel():
    return _act("cancel")
