"""/api/v1/jobs: the history (filtered, keyset-paginated), one execution, retry and cancel."""

from __future__ import annotations

from flask import jsonify, request

from jobu import operations
from jobu.admin import access
from jobu.admin.api import bp
from jobu.admin.api.params import limit, whole_number
from jobu.admin.api.schemas import ExecutionDetailSchema, ExecutionSchema
from jobu.admin.security import Role, requires


@bp.get("/jobs")
def list_jobs():
    """Newest first; filters status (comma-separated), cron, handler, source; pass the
    page's `next` as `before` for the next page."""
    status = request.args.get("status")
    page = operations.list_executions(
        access.store(), statuses=[status] if status else None,
        cron_name=request.args.get("cron") or None,
        handler_name=request.args.get("handler") or None,
        source=request.args.get("source") or None, limit=limit(),
        before_id=whole_number("before"))
    return jsonify(items=ExecutionSchema(many=True).dump(page.items), next=page.next_cursor)


@bp.get("/jobs/<int:execution_id>")
def get_job(execution_id: int):
    return jsonify(ExecutionDetailSchema().dump(
        operations.get_execution(access.store(), execution_id)))


@bp.post("/jobs/<int:execution_id>/retry")
@requires(Role.OPERATOR, action=True)
def retry_job(execution_id: int):
    return jsonify(ExecutionSchema().dump(
        operations.retry_execution(access.store(), execution_id)))


@bp.post("/jobs/<int:execution_id>/cancel")
@requires(Role.OPERATOR, action=True)
def cancel_job(execution_id: int):
    return jsonify(ExecutionSchema().dump(
        operations.cancel_execution(access.store(), execution_id)))
