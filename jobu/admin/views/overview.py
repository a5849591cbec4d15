"""/: the scheduler at a glance: what runs now, what failed in the last 24 hours, charts of
the executions finished and the start lateness per hour over those 24 hours, and which crons
fire next."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template

from jobu import operations
from jobu.admin import access
from jobu.admin.charts import lateness_chart, throughput_chart
from jobu.model import Status
from jobu.operations.charts_data import hourly_activity

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
    hours = hourly_activity(store, status.checked_at)
    return render_template("overview.html", status=status, running=running.items,
                           failures=failures.items, window_hours=24,
                           throughput=throughput_chart(hours), lateness=lateness_chart(hours))
