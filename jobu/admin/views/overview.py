"""/: the scheduler at a glance: what runs now, what failed in the last 24 hours, and which
crons fire next."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template

from jobu import operations
from jobu.admin import access
from jobu.model import Status

bp = Blueprint("overview", __name__)

#: How far back the failures panel looks.
FAILURE_WINDOW = timedelta(hours=24)
#: Rows per panel.
PANEL_ROWS = 20


@bp.get("/")
def overview():
    store = access.store()
    status = operations.scheduler_status(store)
    running = operations.list_executions(store, statuses=[Status.RUNNING], limit=PANEL_ROWS)
    failures = operations.list_executions(
        store, statuses=[Status.FAILED, Status.TIMEOUT], limit=PANEL_ROWS,
        since=status.checked_at - FAILURE_WINDOW)
    return render_template("overview.html", status=status, running=running.items,
                           failures=failures.items, window_hours=24)
