"""/api/v1/workers, /stats, /status and /schedule/next: what the scheduler is and does."""

from __future__ import annotations

from flask import jsonify, request

from jobu import operations
from jobu.admin import access
from jobu.admin.api import bp
from jobu.admin.api.params import whole_number
from jobu.admin.api.schemas import StatsSchema, StatusSchema, WorkerSchema
from jobu.admin.schedule_words import schedule_in_words
from jobu.operations.crons import spec_of


@bp.get("/workers")
def list_workers():
    status = operations.scheduler_status(access.store())
    return jsonify(items=WorkerSchema(many=True).dump(status.dispatchers + status.workers),
                   checked_at=status.checked_at.isoformat())


@bp.get("/stats")
def stats():
    """Statistics of the cron named by `cron`, or of every cron."""
    return jsonify(StatsSchema().dump(
        operations.job_stats(access.store(), request.args.get("cron") or None)))


@bp.get("/status")
def status():
    return jsonify(StatusSchema().dump(operations.scheduler_status(access.store())))


@bp.get("/schedule/next")
def preview():
    """The next fire times of a schedule being typed (`schedule`, `timezone`, `count`)."""
    spec = spec_of("preview", access.rules(), schedule=request.args.get("schedule", ""),
                   handler_name="preview", timezone=request.args.get("timezone") or None)
    count = whole_number("count", 10, high=100)
    fires = operations.next_fire_times(spec, access.now(), count)
    return jsonify(schedule=spec.schedule, timezone=spec.timezone,
                   in_words=schedule_in_words(spec.schedule, spec.timezone),
                   next_fires=[at.isoformat() for at in fires])
