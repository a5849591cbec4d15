"""The application factory: configuration, one Store per process, security, blueprints.

gunicorn calls it in each worker process after the fork (no preload), so each
process opens its own database pool. Tests call it with a configuration directory.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from typing import Any

from flask import Flask

from jobu.admin import access, formatting, health, metrics_view, refusals, security, signin
from jobu.admin.api import bp as api_bp
from jobu.admin.views import audit, crons, dead_letters, jobs, overview, workers
from jobu.admin.views.docs import bp as docs_bp
from jobu.clock import SystemClock
from jobu.config import ADMIN_FILE, load_config
from jobu.store import open_store


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the admin application.

    `test_config` may hold ``JOBU_CONFIG_DIR`` (a configuration directory to load
    instead of the default one), ``JOBU_CLOCK`` (a Clock, for tests) and Flask
    settings; the jobs database comes from the loaded configuration, as for every
    jobu process.
    """
    app = Flask(__name__)
    overrides = dict(test_config or {})
    config = load_config(overrides.pop("JOBU_CONFIG_DIR", None), secrets_of=(ADMIN_FILE,))
    clock = overrides.pop("JOBU_CLOCK", None) or SystemClock()
    app.config.from_mapping(
        SECRET_KEY=security.secret_key(config),
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=1024 * 1024, **overrides)
    store = open_store(config.jobs_database)
    access.install(app, config=config, store=store, clock=clock)
    atexit.register(store.close)
    security.init_app(app)
    security.init_transport(app, config.admin)
    audit.init_app(app)
    formatting.init_app(app)
    refusals.init_app(app)
    for blueprint in (health.bp, metrics_view.bp, signin.bp, overview.bp, crons.bp, jobs.bp,
                      workers.bp, dead_letters.bp, audit.bp, api_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(docs_bp)  # /docs: the API's document, for people
    return app
