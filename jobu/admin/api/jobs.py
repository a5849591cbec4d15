"""/api/v1/jobs: the history (filtered, keyset-paginated), one execution, retry and cancel, of
one execution or of every execution a filter matches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import jsonify, request

from jobu import operations
from jobu.admin import access
from jobu.admin.api import bp
from jobu.admin.api.openapi import documented, page_limit, query_parameter
from jobu.admin.api.params import json_body, limit, refused, whole_number
from jobu.admin.api.schemas import (
    BulkFilterSchema,
    BulkOutcomeSchema,
    ExecutionDetailSchema,
    ExecutionPageSchema,
    ExecutionSchema,
    load,
)
from jobu.admin.security import Role, requires
from jobu.admin.views.audit import audited, bulk_filter
from jobu.errors import InvalidInputError
from jobu.model import ExecutionFilter
from jobu.operations import executions
from jobu.operations.executions import BulkOutcome


def _time_bound(values: Mapping[str, Any], name: str):
    """`from` or `to` as typed (ISO 8601, UTC without an offset), refused naming the field."""
    try:
        return executions.parse_time_bound(values.get(name), name)
    except InvalidInputError as error:
        raise refused(str(error), name) from None


def _filter_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """The list's filter keys (status, cron, handler, source, from, to) as the operations'
    keyword arguments; `values` is the query string or a bulk action's body."""
    status = values.get("status")
    return {"statuses": [status] if status else None,
            "cron_name": values.get("cron") or None,
            "handler_name": values.get("handler") or None,
            "source": values.get("source") or None,
            "since": _time_bound(values, "from"), "until": _time_bound(values, "to"),
            "since_name": "from", "until_name": "to"}


@bp.get("/jobs")
@documented("The history of executions, newest first, filtered and keyset-paginated",
            tag="jobs", query=[
                query_parameter("status", "only executions of this status (PENDING, RUNNING, "
                                "SUCCESS, FAILED, TIMEOUT, CANCELLED, ...)"),
                query_parameter("cron", "only the executions of this cron"),
                query_parameter("handler", "only the executions of this handler"),
                query_parameter("source", "only executions of this parameter source"),
                query_parameter("from", "scheduled at or after (ISO 8601, UTC unless it "
                                "gives an offset)"),
                query_parameter("to", "scheduled before (ISO 8601, UTC unless it gives an "
                                "offset)"),
                query_parameter("ids", "only these ids (comma-separated, at most `limit`)"),
                page_limit("executions"),
                query_parameter("before", "the `next` of the previous page: executions "
                                "older than this id", kind="integer", minimum=1)],
            responses={200: ExecutionPageSchema}, refusals=(404,))
def list_jobs():
    """Newest first; filters status (comma-separated), cron, handler, source, a time range on
    the scheduled time (`from` included, `to` not: ISO 8601, UTC unless it gives an offset)
    and `ids` (comma-separated, at most `limit`: the live refresh of a page's rows); pass the
    page's `next` as `before` for the next page."""
    try:
        ids = executions.parse_execution_ids(request.args.get("ids"))
    except InvalidInputError as error:
        raise refused(str(error), "ids") from None
    page = operations.list_executions(
        access.store(), **_filter_of(request.args), ids=ids, limit=limit(),
        before_id=whole_number("before"))
    return jsonify(items=ExecutionSchema(many=True).dump(page.items), next=page.next_cursor)


@bp.get("/jobs/<int:execution_id>")
@documented("One execution and the errors of its attempts", tag="jobs",
            responses={200: ExecutionDetailSchema})
def get_job(execution_id: int):
    return jsonify(ExecutionDetailSchema().dump(
        operations.get_execution(access.store(), execution_id)))


@bp.post("/jobs/<int:execution_id>/retry")
@requires(Role.OPERATOR, action=True)
@audited("job.retry", target="execution_id")
@documented("Retry a finished execution", tag="jobs", responses={200: ExecutionSchema},
            refusals=(409,))
def retry_job(execution_id: int):
    return jsonify(ExecutionSchema().dump(
        operations.retry_execution(access.store(), execution_id)))


@bp.post("/jobs/<int:execution_id>/cancel")
@requires(Role.OPERATOR, action=True)
@audited("job.cancel", target="execution_id")
@documented("Cancel a waiting or running execution", tag="jobs",
            responses={200: ExecutionSchema}, refusals=(409,))
def cancel_job(execution_id: int):
    return jsonify(ExecutionSchema().dump(
        operations.cancel_execution(access.store(), execution_id)))


def _bulk_filter() -> ExecutionFilter:
    body = load(BulkFilterSchema, json_body())
    return executions.execution_filter(access.store(), **_filter_of(body))


def _outcome(outcome: BulkOutcome):
    return jsonify(matched=outcome.matched, done=outcome.done, skipped=outcome.skipped)


@bp.post("/jobs/retry")
@requires(Role.OPERATOR, action=True)
@audited("job.retry_many", detail=bulk_filter)
@documented("Retry every finished execution a filter matches", tag="jobs",
            body=BulkFilterSchema, responses={200: BulkOutcomeSchema}, refusals=(404,))
def retry_jobs():
    """Retry every finished execution the body's filter (the list's keys) matches, at most
    BULK_ACTION_LIMIT matches → {"matched", "done", "skipped"}."""
    store = access.store()
    return _outcome(executions.retry_executions(store, _bulk_filter()))


@bp.post("/jobs/cancel")
@requires(Role.OPERATOR, action=True)
@audited("job.cancel_many", detail=bulk_filter)
@documented("Cancel every waiting execution a filter matches; ask the workers of running "
            "ones to stop them", tag="jobs", body=BulkFilterSchema,
            responses={200: BulkOutcomeSchema}, refusals=(404,))
def cancel_jobs():
    """Cancel every waiting execution the body's filter matches and ask the workers of running
    ones to stop them → {"matched", "done", "skipped"}."""
    store = access.store()
    return _outcome(executions.cancel_executions(store, _bulk_filter()))
