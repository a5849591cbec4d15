"""/api/v1/crons: list, create, read, edit, delete, enable, disable and run crons now."""

from __future__ import annotations

from flask import jsonify, request

from jobu import operations
from jobu.admin import access
from jobu.admin.api import bp
from jobu.admin.api.params import json_body, limit
from jobu.admin.api.schemas import CronCreateSchema, CronEditSchema, CronRowSchema, CronSchema, load
from jobu.admin.schedule_words import schedule_in_words
from jobu.admin.security import Role, requires
from jobu.model import CronJob
from jobu.operations.cron_board import cron_board, cron_managed_by
from jobu.operations.crons import spec_of

#: How many fire times a cron's document lists.
NEXT_FIRES = 10


def cron_document(cron: CronJob) -> dict:
    document = CronSchema().dump(cron)
    document["schedule_in_words"] = schedule_in_words(cron.schedule, cron.timezone)
    return document


@bp.get("/crons")
def list_crons():
    """Crons by name, `limit` at a time, after the name `after`."""
    after = request.args.get("after", "")
    rows = [row for row in cron_board(access.store(), access.now()) if row.cron.name > after]
    size = limit()
    page = rows[:size]
    items = CronRowSchema(many=True).dump(page)
    for item, row in zip(items, page, strict=True):
        item["cron"]["schedule_in_words"] = schedule_in_words(row.cron.schedule,
                                                              row.cron.timezone)
    return jsonify(items=items, next=page[-1].cron.name if len(rows) > size else None)


@bp.post("/crons")
@requires(Role.ADMIN, action=True)
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
def get_cron(name: str):
    store = access.store()
    cron = operations.get_cron(store, name)
    fires = operations.next_fire_times(cron, access.now(), NEXT_FIRES) if cron.is_enabled \
        else []
    return jsonify(cron=cron_document(cron), managed_by=cron_managed_by(store, cron.name),
                   next_fires=[at.isoformat() for at in fires])


@bp.patch("/crons/<name>")
@requires(Role.ADMIN, action=True)
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
def delete_cron(name: str):
    operations.remove_cron(access.store(), name)
    return "", 204


@bp.post("/crons/<name>/enable")
@requires(Role.OPERATOR, action=True)
def enable_cron(name: str):
    return jsonify(cron_document(operations.set_cron_enabled(access.store(), name, True)))


@bp.post("/crons/<name>/disable")
@requires(Role.OPERATOR, action=True)
def disable_cron(name: str):
    return jsonify(cron_document(operations.set_cron_enabled(access.store(), name, False)))


@bp.post("/crons/<name>/run")
@requires(Role.OPERATOR, action=True)
def run_cron(name: str):
    cron, execution_id = operations.run_cron_now(access.store(), name, access.clock())
    return jsonify(cron=cron.name, execution_id=execution_id), 201
