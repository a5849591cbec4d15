"""/api/v1/workers, /stats, /status and /schedule/next: what the scheduler is and does."""

from __future__ import annotations

from flask import jsonify, request

from jobu import operations
from jobu.admin import access
from jobu.admin.api import bp
from jobu.admin.api.openapi import documented, query_parameter
from jobu.admin.api.params import whole_number
from jobu.admin.api.schemas import (
    SchedulePreviewSchema,
    StatsSchema,
    StatusSchema,
    WorkerListSchema,
    WorkerSchema,
)
from jobu.admin.schedule_words import schedule_in_words
from jobu.operations.fire_preview import PREVIEW_COUNT, preview_schedule


@bp.get("/workers")
@documented("The registered daemons (dispatchers and workers)", tag="system",
            responses={200: WorkerListSchema})
def list_workers():
    status = operations.scheduler_status(access.store())
    return jsonify(items=WorkerSchema(many=True).dump(status.dispatchers + status.workers),
                   checked_at=status.checked_at.isoformat())


@bp.get("/stats")
@documented("Statistics of one cron, or of all of them", tag="system",
            query=[query_parameter("cron", "the cron's name; every cron when absent")],
            responses={200: StatsSchema}, refusals=(404,))
def stats():
    """Statistics of the cron named by `cron`, or of every cron."""
    return jsonify(StatsSchema().dump(
        operations.job_stats(access.store(), request.args.get("cron") or None)))


@bp.get("/status")
@documented("The scheduler at a glance: daemons, crons, the next fire times", tag="system",
            responses={200: StatusSchema})
def status():
    return jsonify(StatusSchema().dump(operations.scheduler_status(access.store())))


@bp.get("/schedule/next")
@documented("The next fire times of a schedule not saved yet, marked for DST", tag="system",
            query=[query_parameter("schedule", "the schedule as `jobu cron add` takes it",
                                   required=True),
                   query_parameter("timezone", "an IANA zone; the default zone when absent"),
                   query_parameter("dst_repeat", "auto, first or both"),
                   query_parameter("count", "how many fire times", kind="integer", minimum=1,
                                   maximum=100, default=PREVIEW_COUNT)],
            responses={200: SchedulePreviewSchema}, refusals=(404, 422))
def preview():
    """The next ticks of a schedule being typed (`schedule`, `timezone`, `dst_repeat`,
    `count`): `fires` with each in the zone, its UTC offset, its DST mark ("gap-shifted",
    "repeated-hour" or null) and, for a schedule that names a business calendar, its
    `outcome` ("run", "moved", "skipped") and `reason`; `next_fires` the UTC instants of
    those that fire. The cron form's script. 404 when the calendar named does not exist."""
    count = whole_number("count", PREVIEW_COUNT, high=100)
    spec, fires = preview_schedule(access.store(), access.rules(), access.now(),
                                   request.args.get("schedule", ""),
                                   request.args.get("timezone"), request.args.get("dst_repeat"),
                                   count)
    return jsonify(schedule=spec.schedule, timezone=spec.timezone,
                   in_words=schedule_in_words(spec.schedule, spec.timezone),
                   next_fires=[fire.at.isoformat() for fire in fires
                               if fire.outcome != "skipped"],
                   fires=[{"at": fire.at.isoformat(), "local": fire.local.isoformat(),
                           "utc_offset": fire.utc_offset, "dst": fire.dst,
                           "outcome": fire.outcome, "reason": fire.reason} for fire in fires])
