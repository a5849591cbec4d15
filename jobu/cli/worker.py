"""`jobu worker`: the daemon that runs handlers (unit jobu-worker, jobu-worker@NAME)."""

from __future__ import annotations

import argparse
import threading

from jobu.cli.context import Context
from jobu.cli.daemons import run_daemon
from jobu.config import Config
from jobu.db import DatabaseRegistry
from jobu.errors import ConfigError, HandlerError
from jobu.handlers import HandlerRegistry, discover_handlers
from jobu.store import Store
from jobu.systemd import Notifier
from jobu.worker import Worker


def register(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser(
        "worker", help="run the worker daemon: claim executions and run their handlers",
        description="Run handlers for the executions of the queues in worker.yaml, in a pool "
                    "of threads, until SIGTERM (which drains running jobs first). Handlers "
                    "come from worker.yaml handler_paths and handler_modules, plus the "
                    "built-in noop and sleep.")
    worker.add_argument("--worker-config", metavar="FILE",
                        help="read FILE instead of worker.yaml, relative to the configuration "
                             "directory: an extra pool (jobu-worker@NAME reads "
                             "worker-NAME.yaml)")
    worker.set_defaults(func=cmd_worker)


def load_handlers(config: Config) -> HandlerRegistry:
    """The handlers of worker.yaml; a broken or doubly named handler is a start-up error."""
    try:
        return discover_handlers(config.worker.handler_paths, config.worker.handler_modules)
    except HandlerError as error:
        raise ConfigError(f"worker.yaml handlers: {error}") from error


def build_worker(config: Config, store: Store, wake: threading.Event, *,
                 registry: HandlerRegistry, notifier: Notifier | None = None) -> Worker:
    databases = DatabaseRegistry(config.databases, config.worker.databases)
    return Worker(store=store, config=config.worker, registry=registry, wake=wake,
                  databases=databases, database_specs=databases.specs, notifier=notifier)


def cmd_worker(ctx: Context) -> int:
    config = ctx.config
    registry = load_handlers(config)
    notifier = Notifier()
    return run_daemon(
        ctx, lambda cfg, store, wake: build_worker(cfg, store, wake, registry=registry,
                                                   notifier=notifier),
        log_level=config.worker.log_level, log_format=config.worker.log_format,
        reload_config=ctx.load_config, notifier=notifier)
