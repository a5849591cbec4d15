"""/jobs: the history of executions with filters and keyset pagination, one execution's page,
and the retry and cancel actions (jobu.operations.executions)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from jobu import operations
from jobu.admin import access
from jobu.admin.security import Role, requires
from jobu.errors import InvalidInputError
from jobu.model import ParamSource, Status
from jobu.operations.cron_board import cron_name_of

bp = Blueprint("jobs", __name__)

#: The query parameters of /jobs that filter the list.
FILTERS = ("status", "cron", "handler", "source")


def page_filters() -> dict[str, str]:
    return {name: request.args.get(name, "").strip() for name in FILTERS}


@bp.get("/jobs")
def list_page():
    filters = page_filters()
    before = request.args.get("before", "")
    error, page = None, None
    try:
        if before and not before.isdigit():
            raise InvalidInputError(f"before must be an execution id, got {before!r}")
        page = operations.list_executions(
            access.store(), statuses=[filters["status"]] if filters["status"] else None,
            cron_name=filters["cron"] or None, handler_name=filters["handler"] or None,
            source=filters["source"] or None, limit=access.page_size(),
            before_id=int(before) if before else None)
    except (InvalidInputError, LookupError) as refused:
        error = str(refused)
    return render_template("jobs/list.html", page=page, filters=filters, error=error,
                           statuses=[s.value for s in Status],
                           sources=[s.value for s in ParamSource]), 200 if error is None else 400


@bp.get("/jobs/<int:execution_id>")
def detail(execution_id: int):
    store = access.store()
    found = operations.get_execution(store, execution_id)
    return render_template("jobs/detail.html", job=found.execution, errors=found.attempt_errors,
                           cron_name=cron_name_of(store, found.execution.job_id))


@bp.post("/jobs/<int:execution_id>/retry")
@requires(Role.OPERATOR, action=True)
def retry(execution_id: int):
    operations.retry_execution(access.store(), execution_id)
    flash(f"Job {execution_id} will run again from attempt 1.")
    return redirect(url_for("jobs.detail", execution_id=execution_id))


@bp.post("/jobs/<int:execution_id>/cancel")
@requires(Role.OPERATOR, action=True)
def cancel(execution_id: int):
    job = operations.cancel_execution(access.store(), execution_id)
    if job.status == Status.CANCELLED:
        flash(f"Job {execution_id} cancelled.")
    else:
        flash(f"Job {execution_id} is running: its worker was asked to stop it.")
    return redirect(url_for("jobs.detail", execution_id=execution_id))
