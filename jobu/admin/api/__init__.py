"""The JSON API under /api/v1: what the pages do, for scripts.

Authentication is the signed-in session (with its CSRF token in ``X-CSRF-Token`` for
changes) or an API token in ``Authorization: Bearer``; roles as on the pages
(admin.security). Lists are keyset-paginated: each page gives ``next``, passed back as
``before`` (jobs) or ``after`` (crons); dead letters come newest first up to ``limit``, with
``more`` saying whether older ones exist. Errors are ``{"error": {"code", "message",
"field"}}``: 400 a malformed request, 401 not signed in, 403 refused, 404 no such thing,
409 a conflict (name taken, wrong state, managed by a file), 422 a value not valid,
503 the database is unavailable.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from jobu.admin.api import audit, crons, dead_letters, jobs, openapi, system  # noqa: E402,F401 - they add their routes to bp
