"""`jobu run`: the dispatcher and a worker in one process, for development.

It does what `jobu dispatcher` and `jobu worker` do, two-phase recovery at start
included. With --admin it also serves the web admin: `jobu admin serve` as a child
process (gunicorn's arbiter wants a process of its own), stopped with it.

On a laptop or a test host one command is enough: crons fire and their handlers
run, on the embedded SQLite database by default. Production runs each daemon as
its own systemd service instead, so that they restart and scale on their own.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from jobu.cli.context import Context
from jobu.cli.daemons import run_daemon
from jobu.cli.dispatcher import build_dispatcher
from jobu.cli.worker import build_worker, load_handlers
from jobu.config import Config
from jobu.daemon import Service
from jobu.errors import DatabaseError
from jobu.operations.recovery import recover_at_daemon_start
from jobu.store import Store
from jobu.systemd import Notifier


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "run", help="run the dispatcher and a worker in one process (development)",
        description="Run the dispatcher and a worker together in the foreground, until "
                    "Ctrl-C. Like `jobu worker`, it first finishes the two-phase transactions "
                    "a crash left prepared on the handlers' databases. For development and "
                    "trials; in production run jobu-dispatcher and jobu-worker as systemd "
                    "services.")
    parser.add_argument("--handler-path", action="append", default=[], metavar="DIR",
                        help="also load handlers from DIR (repeatable), besides worker.yaml "
                             "handler_paths")
    parser.add_argument("--admin", nargs="?", const="", default=None, metavar="BIND",
                        help="also serve the web admin (jobu admin serve) on BIND, host:port "
                             "(default: admin.yaml's bind, 127.0.0.1:8080)")
    parser.set_defaults(func=cmd_run, with_crons=True)


class Together:
    """Several services run by one Daemon, each pass running every one of them."""

    name = "jobu"

    def __init__(self, services: list[Service]) -> None:
        self.services = services

    def run_once(self, now: datetime) -> float:
        delays, failure = [], None
        for service in self.services:
            try:
                delays.append(service.run_once(now))
            except DatabaseError as error:  # the others still get their pass
                failure = failure or error
        if failure is not None:
            raise failure
        return min(delays)

    def status(self) -> str:
        return "; ".join(f"{s.name}: {s.status()}" for s in self.services)

    def healthy(self) -> bool:
        return all(s.healthy() for s in self.services)

    def reload(self, config: Config) -> None:
        for service in self.services:
            service.reload(config)

    def shutdown(self, hard_stop: threading.Event) -> None:
        for service in self.services:
            service.shutdown(hard_stop)


log = logging.getLogger("jobu.run")


class AdminChild:
    """`jobu admin serve` as a child process of `jobu run`, one of its services.

    The kernel stops the child if `jobu run` dies without a word (PR_SET_PDEATHSIG), so a
    killed `jobu run` never leaves the admin's port taken. A child that exits on its own
    (a bad admin.yaml, its port in use) is reported, not restarted: restarting would not
    fix either.
    """

    name = "admin"

    def __init__(self, config: Config, bind: str) -> None:
        self.bind = bind or config.admin.bind
        argv = [sys.executable, "-m", "jobu", "--config-dir", str(config.config_dir),
                "admin", "serve", "--bind", self.bind]
        # Started before jobu run has threads of its own: a preexec_fn is safe only then.
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                        preexec_fn=_stop_with_parent)
        self._exit_reported = False

    @property
    def address(self) -> str:
        return self.bind if self.bind.startswith("unix:") else f"http://{self.bind}"

    def run_once(self, now: datetime) -> float:
        code = self.process.poll()
        if code is not None and not self._exit_reported:
            self._exit_reported = True
            log.error("the admin (jobu admin serve) exited with status %s; its lines above "
                      "say why; the dispatcher and the worker go on", code)
        return 5.0

    def status(self) -> str:
        code = self.process.poll()
        return f"on {self.address}" if code is None else f"exited with status {code}"

    def healthy(self) -> bool:
        return True  # the admin's trouble is its own: the watchdog is the jobs'

    def reload(self, config: Config) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)  # gunicorn: new workers, config read again

    def shutdown(self, hard_stop: threading.Event) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=35)  # gunicorn's graceful stop, then a margin
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _stop_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux prctl)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def with_handler_paths(config: Config, paths: list[str]) -> Config:
    extra = tuple(str(Path(p).resolve()) for p in paths)
    return replace(config, worker=replace(config.worker,
                                          handler_paths=config.worker.handler_paths + extra))


def cmd_run(ctx: Context) -> int:
    config = with_handler_paths(ctx.config, ctx.args.handler_path)
    admin = AdminChild(config, ctx.args.admin) if ctx.args.admin is not None else None
    if admin is not None:
        print(f"jobu: the admin on {admin.address} (a first user: jobu admin user add NAME "
              "--role admin)", file=sys.stderr, flush=True)
    registry = load_handlers(config)
    notifier = Notifier()

    def build(cfg: Config, store: Store, wake: threading.Event) -> Together:
        # As `jobu worker` does, before the first claim: a crash may have left two-phase
        # transactions prepared, holding locks the handlers about to run would wait on.
        recover_at_daemon_start(cfg, store)
        services: list[Service] = [
            build_dispatcher(cfg, store, wake),
            build_worker(cfg, store, wake, registry=registry, notifier=notifier)]
        return Together(services + ([admin] if admin is not None else []))

    return run_daemon(ctx, build, log_level=config.worker.log_level,
                      log_format=config.worker.log_format, notifier=notifier,
                      metrics_bind=config.worker.metrics_bind,
                      reload_config=lambda: with_handler_paths(ctx.load_config(),
                                                               ctx.args.handler_path))
