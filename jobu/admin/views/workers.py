"""/workers: the live daemons from the `workers` table; one silent too long is marked stale."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template

from jobu import operations
from jobu.admin import access

bp = Blueprint("workers", __name__)

#: A daemon is stale after this many of worker.yaml's heartbeat intervals without one
#: (at least STALE_AFTER_MIN): it has probably died, and its jobs will be rescued.
STALE_HEARTBEATS = 3
STALE_AFTER_MIN = timedelta(seconds=30)


def stale_after() -> timedelta:
    interval = timedelta(seconds=access.config().worker.heartbeat_interval_seconds)
    return max(STALE_AFTER_MIN, STALE_HEARTBEATS * interval)


@bp.get("/workers")
def list_page():
    status = operations.scheduler_status(access.store())
    limit = status.checked_at - stale_after()
    daemons = [(daemon, daemon.last_heartbeat is None or daemon.last_heartbeat < limit)
               for daemon in status.dispatchers + status.workers]
    return render_template("workers.html", daemons=daemons, checked_at=status.checked_at,
                           stale_after=stale_after())
