"""`jobu worker`: the daemon that runs handlers (unit jobu-worker, jobu-worker@NAME)."""

from __future__ import annotations

import argparse
import threading

from jobu.cli.context import Context
from jobu.cli.daemons import run_daemon
from jobu.config import Config
from jobu.db import DatabaseRegistry, use_databases
from jobu.errors import ConfigError, HandlerError
from jobu.handlers import HandlerRegistry, discover_handlers
from jobu.operations.recovery import recover_at_daemon_start
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
    # transactional("name") in a handler finds its database here, and commits over several
    # databases keep their decisions in the jobs database.
    use_databases(databases, decision_log=store,
                  allow_best_effort_multi_commit=config.allow_best_effort_multi_commit)
    return Worker(store=store, config=config.worker, registry=registry, wake=wake,
                  databases=databases, database_specs=databases.specs, notifier=notifier)


def cmd_worker(ctx: Context) -> int:
    config = ctx.config
    registry = load_handlers(config)
    notifier = Notifier()

    def build(cfg: Config, store: Store, wake: threading.Event) -> Worker:
        # Before the first claim: a crash of the previous worker may have left two-phase
        # transactions prepared, holding locks the handlers about to run would wait on.
        recover_at_daemon_start(cfg, store)
        return build_worker(cfg, store, wake, registry=registry, notifier=notifier)

    return run_daemon(
        ctx, build,
        log_level=config.worker.log_level, log_format=config.worker.log_format,
        reload_config=ctx.load_config, notifier=notifier, metrics_bind=config.worker.metrics_bind)
