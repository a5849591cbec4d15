"""`jobu admin serve`: the admin under gunicorn, configured by admin.yaml.

gunicorn runs in this process (its BaseApplication), so the configuration is read and
checked once before anything binds: a bad admin.yaml stops the command with exit 78
before gunicorn starts. Each worker process builds its own application after the
fork (no preload), so each opens its own database pool.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from jobu.configschema import AdminConfig


def gunicorn_options(settings: AdminConfig, bind: str | None = None) -> dict[str, Any]:
    """gunicorn's settings from admin.yaml (`bind` overrides its bind)."""
    return {
        "bind": [bind or settings.bind],
        "workers": settings.workers,
        "threads": settings.threads,
        "worker_class": "gthread",
        "timeout": math.ceil(settings.timeout_seconds),
        "graceful_timeout": math.ceil(settings.graceful_timeout_seconds),
        "loglevel": settings.log_level.lower(),
        "accesslog": "-",
        "errorlog": "-",
        "preload_app": False,
        "proc_name": "jobu-admin",
    }


class AdminServer(BaseApplication):
    """gunicorn serving jobu.admin.create_app() with options given in Python, not argv."""

    def __init__(self, options: dict[str, Any], config_dir: Path | None) -> None:
        self.options = options
        self.config_dir = config_dir
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from jobu.admin import create_app  # in the worker, after the fork
        return create_app({"JOBU_CONFIG_DIR": self.config_dir} if self.config_dir else None)


def serve(settings: AdminConfig, config_dir: Path | None, bind: str | None = None) -> None:
    """Run gunicorn until it is stopped (SIGTERM, SIGINT); returns when it exits."""
    AdminServer(gunicorn_options(settings, bind), config_dir).run()
