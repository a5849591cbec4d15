"""Running a daemon from the command line: configuration, logging, store, signals.

Each daemon's subcommand builds its Service from the loaded configuration and
hands it to run_daemon, which is the same for all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from jobu.cli.context import Context
from jobu.clock import SystemClock
from jobu.config import Config
from jobu.daemon import Daemon, Service, log_notices
from jobu.logs import capture_handler_output, setup_logging
from jobu.metrics import MetricsServer, build_registry
from jobu.store import Store
from jobu.systemd import Notifier, stderr_is_journal

#: Builds a daemon's Service from the configuration, the store and the wake-up event.
ServiceFactory = Callable[[Config, Store, threading.Event], Service]


def run_daemon(ctx: Context, build: ServiceFactory, *, log_level: str, log_format: str,
               reload_config: Callable[[], Config] | None = None,
               notifier: Notifier | None = None, metrics_bind: str | None = None) -> int:
    """Run a daemon in the foreground until SIGTERM; returns its exit code.

    A configuration that does not load has already failed (exit 78) when
    `ctx.config` was read by the caller to find `log_level` and `log_format`.
    With `metrics_bind` (host:port, the daemon's YAML) jobu's metrics are served there
    from the start; a port that cannot be bound is a ConfigError (exit 78).
    """
    setup_logging(log_level, log_format, journal=stderr_is_journal())
    log_notices(ctx.config)
    metrics = (MetricsServer.start(metrics_bind, build_registry(ctx.store, ctx.config))
               if metrics_bind else None)
    try:
        capture_handler_output()  # what handlers print becomes their executions' log lines
        wake = threading.Event()
        service = build(ctx.config, ctx.store, wake)
        notifier = notifier or Notifier()
        daemon = Daemon(service, clock=SystemClock(), notifier=notifier,
                        load_config=reload_config or ctx.load_config,
                        wake=wake)
        daemon.install_signal_handlers()
        with notifier:
            return daemon.run()
    finally:
        if metrics is not None:
            metrics.close()
