"""`jobu admin serve`: the admin under gunicorn, configured by admin.yaml.

gunicorn runs in this process (its BaseApplication), so the configuration is read and
checked once before anything binds: a bad admin.yaml stops the command with exit 78
before gunicorn starts. Each worker process builds its own application after the
fork (no preload), so each opens its own database pool.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication

from jobu.config import AdminConfig
from jobu.systemd import Notifier


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
        "when_ready": _ready,
        # gunicorn 25+ opens a control socket in $HOME/.gunicorn (or $XDG_RUNTIME_DIR): one
        # path for every admin the user runs, and nothing jobu uses. Older ones have none.
        "control_socket_disable": True,
    }


#: Settings that only some gunicorn versions have; an older one goes without them.
NEWER_GUNICORN_SETTINGS = frozenset({"control_socket_disable"})


def _ready(server: Any) -> None:
    """gunicorn's when_ready hook, in the arbiter once it listens: READY=1 for systemd
    (jobu-admin.service is Type=notify), with where it listens as STATUS=."""
    where = ", ".join(str(listener) for listener in server.LISTENERS) or "?"
    with Notifier() as notifier:
        notifier.ready(f"serving on {where} with {server.num_workers} worker processes")


class AdminServer(BaseApplication):
    """gunicorn serving jobu.admin.create_app() with options given in Python, not argv."""

    def __init__(self, options: dict[str, Any], config_dir: Path | None) -> None:
        self.options = options
        self.config_dir = config_dir
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in NEWER_GUNICORN_SETTINGS and key not in self.cfg.settings:
                continue
            self.cfg.set(key, value)

    def load(self) -> Any:
        from jobu.admin import create_app  # in the worker, after the fork
        return create_app({"JOBU_CONFIG_DIR": self.config_dir} if self.config_dir else None)


def serve(settings: AdminConfig, config_dir: Path | None, bind: str | None = None) -> None:
    """Run gunicorn until it is stopped (SIGTERM, SIGINT); returns when it exits."""
    keep_owner_without_setuid()
    AdminServer(gunicorn_options(settings, bind), config_dir).run()


def keep_owner_without_setuid() -> None:
    """Make gunicorn's workers skip setuid()/setgid() to the ids they already have.

    gunicorn 20.1 (Debian 12) calls setuid() in every new worker even when it changes
    nothing; jobu-admin.service denies that system call (SystemCallFilter=~@privileged), so
    every worker failed to boot. Newer gunicorn skips the call itself (this changes nothing
    there); a `user`/`group` other than the process's own still goes to gunicorn.
    """
    original = gunicorn_util.set_owner_process
    if getattr(original, "keeps_own_ids", False):
        return

    def set_owner_process(uid: int, gid: int, initgroups: bool = False) -> None:
        if uid == os.getuid() and gid == os.getgid() and not initgroups:
            return
        original(uid, gid, initgroups)

    set_owner_process.keeps_own_ids = True  # type: ignore[attr-defined]
    gunicorn_util.set_owner_process = set_owner_process
