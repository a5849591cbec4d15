"""jobu's admin web application (Flask), served by gunicorn as ``admin:create_app()``.

Server-rendered pages (crons, jobs, workers, an overview) usable without JavaScript,
a JSON API under /api/v1, and /health. Everyone signs in (users of the jobs
database, with roles), except for /health. Every use case goes through
jobu.operations, so a bad value gets the sentence the CLI gives; the admin never
writes SQL and never imports a daemon. The factory is jobu.admin.app.create_app.
"""

from __future__ import annotations

from jobu.admin.app import create_app

__all__ = ["create_app"]
