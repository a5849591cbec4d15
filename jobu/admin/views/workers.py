"""/workers: the live daemons from the `workers` table; one silent too long is marked stale."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template

from jobu.admin import access
from jobu.operations.metrics import daemon_stale_after
from jobu.operations.status import live_daemons

bp = Blueprint("workers", __name__)


def stale_after() -> timedelta:
    """A daemon silent this long has probably died (its jobs will be rescued): the rule
    /metrics counts live daemons by (jobu.operations.metrics)."""
    return daemon_stale_after(access.config().worker.heartbeat_interval_seconds)


@bp.get("/workers")
def list_page():
    found = live_daemons(access.store())
    limit = found.checked_at - stale_after()
    daemons = [(daemon, daemon.last_heartbeat is None or daemon.last_heartbeat < limit)
               for daemon in found.daemons]
    return render_template("workers.html", daemons=daemons, checked_at=found.checked_at,
                           stale_after=stale_after())
