"""/api/v1/audit: the audit log, newest first, filtered and keyset-paginated (admin role)."""

from __future__ import annotations

from flask import jsonify, request
from marshmallow import Schema, fields

from jobu.admin import access
from jobu.admin.api import bp
from jobu.admin.api.openapi import documented, page_limit, query_parameter
from jobu.admin.api.params import limit, whole_number
from jobu.admin.security import Role, requires
from jobu.operations.audit import list_audit


class AuditEntrySchema(Schema):
    """One row of the audit log."""

    id = fields.Integer()
    at = fields.DateTime(metadata={"description": "when, by the database's clock (UTC)"})
    actor = fields.String(metadata={"description": "the user; '-' when nobody was signed in"})
    action = fields.String(metadata={"description": "what was done: cron.create, job.retry, "
                                                    "user.sign_in_failed, ..."})
    target = fields.String(allow_none=True, metadata={
        "description": "what it was done to: a cron's name, an execution's or a dead "
                       "letter's id, the user name a sign-in tried"})
    source = fields.String(metadata={"description": "admin (a page) or api"})
    address = fields.String(allow_none=True, metadata={
        "description": "the client's address as the admin saw it"})
    detail = fields.String(allow_none=True)


class AuditPageSchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema))
    next = fields.Integer(allow_none=True, metadata={
        "description": "the `before` of the next page; null on the last one"})


@bp.get("/audit")
@requires(Role.ADMIN)
@documented("The audit log: who changed what and who signed in, newest first", tag="audit",
            query=[query_parameter("actor", "only the rows of this user ('-': signed out)"),
                   query_parameter("action", "only this action (cron.edit, job.retry, ...)"),
                   query_parameter("target", "only the rows about this cron name or id"),
                   page_limit("rows"),
                   query_parameter("before", "the `next` of the previous page: rows older "
                                   "than this id", kind="integer", minimum=1)],
            responses={200: AuditPageSchema})
def list_audit_rows():
    """Newest first; filters actor, action, target (exact); pass the page's `next` as
    `before` for the next page."""
    page = list_audit(access.store(), actor=request.args.get("actor") or None,
                      action=request.args.get("action") or None,
                      target=request.args.get("target") or None, limit=limit(),
                      before_id=whole_number("before"))
    return jsonify(AuditPageSchema().dump({"items": page.items, "next": page.next_cursor}))
