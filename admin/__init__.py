"""jobu's admin web application (Flask), served by gunicorn as ``admin:create_app()``.

The application factory loads jobu's configuration and keeps one Store per
process (created after gunicorn forks, closed when the process ends). Views use
the Store API only; the admin never writes SQL of its own and never imports a
daemon. It starts with its health endpoint; the pages for crons and history build
on the same factory.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from typing import Any

from flask import Flask

from admin import health
from jobu.config import load_config
from jobu.store import open_store


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the admin application.

    `test_config` may hold ``JOBU_CONFIG_DIR`` (a configuration directory to load
    instead of the default one) and Flask settings; the jobs database comes from
    the loaded configuration, as for every jobu process.
    """
    app = Flask(__name__)
    overrides = dict(test_config or {})
    config = load_config(overrides.pop("JOBU_CONFIG_DIR", None))
    app.config.from_mapping(SECRET_KEY=config.admin.secret_key, **overrides)
    store = open_store(config.jobs_database)
    app.extensions["jobu"] = {"config": config, "store": store}
    atexit.register(store.close)
    app.register_blueprint(health.bp)
    return app
