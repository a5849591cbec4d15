"""`jobu run`: the dispatcher and a worker in one process, for development.

It does what `jobu dispatcher` and `jobu worker` do, two-phase recovery at start
included.

On a laptop or a test host one command is enough: crons fire and their handlers
run, on the embedded SQLite database by default. Production runs each daemon as
its own systemd service instead, so that they restart and scale on their own.
"""

from __future__ import annotations

import argparse
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


def with_handler_paths(config: Config, paths: list[str]) -> Config:
    extra = tuple(str(Path(p).resolve()) for p in paths)
    return replace(config, worker=replace(config.worker,
                                          handler_paths=config.worker.handler_paths + extra))


def cmd_run(ctx: Context) -> int:
    config = with_handler_paths(ctx.config, ctx.args.handler_path)
    registry = load_handlers(config)
    notifier = Notifier()

    def build(cfg: Config, store: Store, wake: threading.Event) -> Together:
        # As `jobu worker` does, before the first claim: a crash may have left two-phase
        # transactions prepared, holding locks the handlers about to run would wait on.
        recover_at_daemon_start(cfg, store)
        return Together([build_dispatcher(cfg, store, wake),
                         build_worker(cfg, store, wake, registry=registry, notifier=notifier)])

    return run_daemon(ctx, build, log_level=config.worker.log_level,
                      log_format=config.worker.log_format, notifier=notifier,
                      reload_config=lambda: with_handler_paths(ctx.load_config(),
                                                               ctx.args.handler_path))
