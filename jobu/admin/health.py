"""/health and /ready: is this admin process up, and can it use the jobs database?

* ``/health`` is liveness: 200 with ``{"status": "ok", "version": ...}`` whenever the
  process answers, whatever the database does, so that a supervisor restarts only a
  process that has stopped answering, never one waiting for its database.
* ``/ready`` is readiness: 200 with ``{"status": "ready", ...}`` when the jobs database
  answers and its schema is current; 503 with the reason otherwise, so that a load
  balancer takes the process out of rotation without parsing pages.

Both are open to everyone: they show no data.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from jobu import __version__
from jobu.admin import access
from jobu.admin.security import public
from jobu.errors import DatabaseError
from jobu.operations.metrics import check_ready

bp = Blueprint("health", __name__)


@bp.get("/health")
@public
def health():
    return jsonify(status="ok", version=__version__), 200


@bp.get("/ready")
@public
def ready():
    store = access.store()
    body = {"version": __version__, "database": store.database.spec.describe()}
    try:
        body["database_time"] = check_ready(store).isoformat()
    except DatabaseError as error:
        return jsonify(status="unavailable", error=str(error), **body), 503
    return jsonify(status="ready", **body), 200
