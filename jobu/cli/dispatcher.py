"""`jobu dispatcher`: the daemon that turns cron ticks into executions (jobu-dispatcher)."""

from __future__ import annotations

import argparse
import threading

from jobu.cli.context import Context
from jobu.cli.daemons import run_daemon
from jobu.clock import SystemClock
from jobu.config import Config
from jobu.dispatcher import Dispatcher
from jobu.logs import setup_logging
from jobu.store import Store
from jobu.systemd import stderr_is_journal


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "dispatcher", help="run the dispatcher: cron ticks become executions",
        description="Run the dispatcher in the foreground (the jobu-dispatcher service): every "
                    "tick of every enabled cron becomes one execution, on time, however many "
                    "dispatchers run; ticks missed while none ran follow each cron's catch_up. "
                    "It also takes back executions whose worker died and prunes old history "
                    "(maintenance). Settings: dispatcher.yaml. At start and on SIGHUP it "
                    "applies crons.yaml and crons.d/*.yaml: adds and updates their crons, and "
                    "disables those that left them. SIGTERM stops it, SIGHUP reloads the "
                    "configuration (a configuration that does not load is logged and the "
                    "running one kept).")
    parser.add_argument("--once", action="store_true",
                        help="run one pass (dispatch the due ticks, then maintenance) and exit, "
                             "for hosts that drive jobu from their own cron, and for tests")
    # crons.yaml and crons.d/*.yaml are applied at start and on SIGHUP.
    parser.set_defaults(func=cmd_dispatcher, with_crons=True)


def build_dispatcher(config: Config, store: Store, wake: threading.Event) -> Dispatcher:
    return Dispatcher(store, config.dispatcher, wake,
                      worker_heartbeat_seconds=config.worker.heartbeat_interval_seconds,
                      cron_files=config.crons, calendar_files=config.calendars)


def cmd_dispatcher(ctx: Context) -> int:
    settings = ctx.config.dispatcher  # a configuration that does not load exits 78 here
    if not ctx.args.once:
        return run_daemon(ctx, build_dispatcher, log_level=settings.log_level,
                          log_format=settings.log_format, reload_config=ctx.load_config,
                          metrics_bind=settings.metrics_bind)
    setup_logging(settings.log_level, settings.log_format, journal=stderr_is_journal())
    dispatcher = Dispatcher(ctx.store, settings, listen=False,
                            worker_heartbeat_seconds=ctx.config.worker.heartbeat_interval_seconds,
                            cron_files=ctx.config.crons,
                            calendar_files=ctx.config.calendars)
    try:
        dispatcher.run_once(SystemClock().now())
        dispatcher.finish_maintenance()
    finally:
        dispatcher.shutdown(threading.Event())
    return 0
