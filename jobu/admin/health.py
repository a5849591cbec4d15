"""/health: is this admin process up, and can it use the jobs database?

200 with ``{"status": "ok", ...}`` when the jobs database answers and its schema
is current; 503 with the reason otherwise, so that a load balancer or systemd's
health check takes the process out of rotation without parsing pages. Open to
everyone: it shows no data.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from jobu import __version__
from jobu.admin.security import public
from jobu.errors import DatabaseError

bp = Blueprint("health", __name__)


@bp.get("/health")
@public
def health():
    store = current_app.extensions["jobu"]["store"]
    body = {"version": __version__, "database": store.database.spec.describe()}
    try:
        store.check_schema()
        body["database_time"] = store.database_now().isoformat()
    except DatabaseError as error:
        return jsonify(status="unavailable", error=str(error), **body), 503
    return jsonify(status="ok", **body), 200
