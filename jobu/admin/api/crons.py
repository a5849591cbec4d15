"""/api/v1/crons: list, create, read, edit, delete, enable, disable and run crons now."""

from __future__ import annotations

from flask import jsonify, request

from jobu import operations
from jobu.admin import access
from jobu.admin.api import bp
from jobu.admin.api.openapi import documented, page_limit, query_parameter
from jobu.admin.api.params import json_body, limit
from jobu.admin.api.schemas import (
    CronCreateSchema,
    CronDetailSchema,
    CronEditSchema,
    CronPageSchema,
    CronRowSchema,
    CronRunSchema,
    CronSchema,
    load,
)
from jobu.admin.schedule_words import schedule_in_words
from jobu.admin.security import Role, requires
from jobu.admin.views.audit import audited, execution_made, posted_name, renamed_to
from jobu.model import CronJob
from jobu.operations.cron_board import CronQuery, cron_managed_by, cron_page
from jobu.operations.crons import spec_of

#: How many fire times a cron's document lists.
NEXT_FIRES = 10


def cron_document(cron: CronJob) -> dict:
    document = CronSchema().dump(cron)
    document["schedule_in_words"] = schedule_in_words(cron.schedule, cron.timezone)
    return document


@bp.get("/crons")
@documented("Crons by name, with last run, next fire time and managing file", tag="crons",
            query=[page_limit("crons"),
                   query_parameter("after", "the `next` of the previous page: crons whose "
                                   "name sorts after it")],
            responses={200: CronPageSchema})
def list_crons():
    """Crons by name, `limit` at a time, after the name `after`: one page read along the
    index on name, as the /crons page reads it (jobu.operations.cron_board.cron_page)."""
    page = cron_page(access.store(), access.now(),
                     CronQuery(after=request.args.get("after") or None, page_size=limit()))
    items = CronRowSchema(many=True).dump(page.rows)
    for item, row in zip(items, page.rows, strict=True):
        item["cron"]["schedule_in_words"] = schedule_in_words(row.cron.schedule,
                                                              row.cron.timezone)
    return jsonify(items=items, next=page.next_after)


@bp.post("/crons")
@requires(Role.ADMIN, action=True)
@audited("cron.create", target=posted_name)
@documented("Add a cron: name, schedule and handler_name, any field of `jobu cron add`",
            tag="crons", body=CronCreateSchema, responses={201: CronSchema}, refusals=(409,))
def create_cron():
    fields = load(CronCreateSchema, json_body())
    force = fields.pop("force")
    name = fields.pop("name")
    given = {key: value for key, value in fields.items() if value is not None}
    spec = spec_of(name, access.rules(), **given)
    # strict: the API refuses an unserved handler (409/422 with the sentence); `force` accepts it.
    cron = operations.add_cron(access.store(), spec, access.rules(), access.clock(),
                               force=force, strict=True)
    return jsonify(cron_document(cron)), 201


@bp.get("/crons/<name>")
@documented("One cron, its managing file and its next 10 fire times", tag="crons",
            responses={200: CronDetailSchema})
def get_cron(name: str):
    store = access.store()
    cron = operations.get_cron(store, name)
    fires = operations.next_fire_times(cron, access.now(), NEXT_FIRES) if cron.is_enabled \
        else []
    return jsonify(cron=cron_document(cron), managed_by=cron_managed_by(store, cron.name),
                   next_fires=[at.isoformat() for at in fires])


@bp.patch("/crons/<name>")
@requires(Role.ADMIN, action=True)
@audited("cron.edit", target="name", detail=renamed_to)
@documented("Change the fields given (`name` renames the cron)", tag="crons",
            body=CronEditSchema, responses={200: CronSchema}, refusals=(409,))
def edit_cron(name: str):
    store = access.store()
    changes = load(CronEditSchema, json_body())
    force = changes.pop("force")
    current = operations.get_cron(store, name)
    merged = {**vars(current.spec), **changes}
    spec = spec_of(merged.pop("name"), access.rules(), **merged)
    typed = {key: getattr(spec, key) for key in changes}
    cron = operations.edit_cron(store, current.name, typed, access.rules(), access.clock(),
                                force=force, strict=True)
    return jsonify(cron_document(cron))


@bp.delete("/crons/<name>")
@requires(Role.ADMIN, action=True)
@audited("cron.delete", target="name")
@documented("Remove a cron (its history stays)", tag="crons", responses={204: None},
            refusals=(409,))
def delete_cron(name: str):
    operations.remove_cron(access.store(), name)
    return "", 204


@bp.post("/crons/<name>/enable")
@requires(Role.OPERATOR, action=True)
@audited("cron.enable", target="name")
@documented("Enable a cron", tag="crons", responses={200: CronSchema}, refusals=(409,))
def enable_cron(name: str):
    return jsonify(cron_document(operations.set_cron_enabled(access.store(), name, True)))


@bp.post("/crons/<name>/disable")
@requires(Role.OPERATOR, action=True)
@audited("cron.disable", target="name")
@documented("Disable a cron", tag="crons", responses={200: CronSchema}, refusals=(409,))
def disable_cron(name: str):
    return jsonify(cron_document(operations.set_cron_enabled(access.store(), name, False)))


@bp.post("/crons/<name>/run")
@requires(Role.OPERATOR, action=True)
@audited("cron.run", target="name", detail=execution_made)
@documented("Run a cron now: enqueue an execution of it", tag="crons",
            responses={201: CronRunSchema}, refusals=(409,))
def run_cron(name: str):
    cron, execution_id = operations.run_cron_now(access.store(), name, access.clock())
    return jsonify(cron=cron.name, execution_id=execution_id), 201
