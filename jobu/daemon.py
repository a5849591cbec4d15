"""The life of a jobu daemon: signals, the main loop, systemd, reloads and outages.

A daemon is a :class:`Service` — an object whose ``run_once(now)`` does one pass of
work and returns how many seconds may pass before the next — run by
:class:`Daemon`, which owns everything around it:

* SIGTERM and SIGINT ask for a stop: the loop ends, ``STOPPING=1`` is sent and the
  service drains (``shutdown``). A second signal asks for a hard stop, which the
  service's drain reads from ``hard_stop``. Signal handlers only set events.
* SIGHUP reloads the configuration. A configuration that does not load is logged,
  and the running one stays.
* A ``DatabaseError`` from a pass is an outage, not a crash: it is logged once
  when it starts and once when it ends, and passes are retried with a capped
  exponential backoff. The daemon never exits because of it.
* ``READY=1`` is sent after the first pass, or as soon as the database is found
  unavailable (the daemon is then up, and its STATUS says what it waits for);
  ``WATCHDOG=1`` after passes that completed while the service says it is
  healthy, so a wedged loop stops feeding systemd's watchdog; ``STATUS=`` with
  it. Both at most every half second: a busy worker passes thousands of times a
  second, and a notification per pass would cost more than its jobs.
* Waits use ``wake``, an Event that anything (a LISTEN thread, a finishing job, a
  signal) sets to run the next pass at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from jobu.clock import Clock
from jobu.config import Config
from jobu.errors import ConfigError, DatabaseError
from jobu.retry import exponential_seconds
from jobu.systemd import Notifier

log = logging.getLogger("jobu.daemon")

#: Longest time between two WATCHDOG=1 / STATUS= notifications of a passing loop.
NOTIFY_INTERVAL_SECONDS = 0.5


class Service(Protocol):
    """What a daemon runs. Every method is called from the daemon's main thread."""

    #: "dispatcher", "worker", … (log lines and status).
    name: str

    def run_once(self, now: datetime) -> float:
        """One pass of work; returns the seconds until the next pass is needed."""

    def status(self) -> str:
        """A one-line summary for systemd's STATUS= (`systemctl status`)."""

    def healthy(self) -> bool:
        """False when the service is wedged, so that the watchdog must not be fed."""

    def reload(self, config: Config) -> None:
        """Take on a new configuration (after SIGHUP)."""

    def shutdown(self, hard_stop: threading.Event) -> None:
        """Drain and release everything; `hard_stop` is set by a second signal."""


class Daemon:
    """Runs a Service until it is asked to stop."""

    #: Longest wait between passes while the database is unavailable, in seconds.
    outage_backoff_cap = 30.0

    def __init__(self, service: Service, *, clock: Clock, notifier: Notifier,
                 load_config: Callable[[], Config] | None = None,
                 wake: threading.Event | None = None) -> None:
        self.service = service
        self.clock = clock
        self.notifier = notifier
        self.load_config = load_config
        self.wake = wake or threading.Event()
        self.stop_requested = threading.Event()
        self.hard_stop = threading.Event()
        self._reload_requested = threading.Event()
        self._ready = False
        self._outage: str | None = None
        self._failures = 0
        self._next_notify = float("-inf")

    # --- requests, from signal handlers or tests -----------------------------------

    def request_stop(self) -> None:
        if self.stop_requested.is_set():
            self.hard_stop.set()
        self.stop_requested.set()
        self.wake.set()

    def request_reload(self) -> None:
        self._reload_requested.set()
        self.wake.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop (a second one: hard stop), SIGHUP reloads."""
        signal.signal(signal.SIGTERM, lambda signum, frame: self.request_stop())
        signal.signal(signal.SIGINT, lambda signum, frame: self.request_stop())
        signal.signal(signal.SIGHUP, lambda signum, frame: self.request_reload())

    # --- the loop ------------------------------------------------------------------

    def run(self) -> int:
        """Run passes until a stop is requested; drain; return the exit code (0)."""
        log.info("%s starting", self.service.name)
        try:
            while not self.stop_requested.is_set():
                if self._reload_requested.is_set():
                    self._reload()
                self.wake.clear()
                delay = self._pass()
                self.wake.wait(self._bounded(delay))
        finally:
            self.notifier.stopping()
            log.info("%s stopping", self.service.name)
            self.service.shutdown(self.hard_stop)
        log.info("%s stopped", self.service.name)
        return 0

    def _pass(self) -> float:
        try:
            delay = self.service.run_once(self.clock.now())
        except DatabaseError as error:
            self._failures += 1
            delay = exponential_seconds(self._failures, 1.0, self.outage_backoff_cap)
            if self._outage is None:
                log.error("%s: database unavailable: %s; retrying, at most every %g s",
                          self.service.name, error, self.outage_backoff_cap)
            self._outage = str(error)
        else:
            if self._outage is not None:
                log.warning("%s: database available again after %d failed passes",
                            self.service.name, self._failures)
            self._outage, self._failures = None, 0
        if not self._ready:
            self._ready = True
            self.notifier.ready()
        # A busy worker makes thousands of passes a second: tell systemd at most every
        # NOTIFY_INTERVAL_SECONDS (far inside any watchdog interval), and not per pass.
        tick = self.clock.monotonic()
        if tick >= self._next_notify or self._outage is not None:
            self._next_notify = tick + NOTIFY_INTERVAL_SECONDS
            if self.service.healthy():
                self.notifier.watchdog()
            self.notifier.status(self._status_line())
        return delay

    def _bounded(self, delay: float) -> float:
        """Wake at least twice per watchdog interval, never wait a negative time."""
        delay = max(0.0, delay)
        if self.notifier.watchdog_seconds:
            delay = min(delay, self.notifier.watchdog_seconds / 2)
        return delay

    def _status_line(self) -> str:
        status = self.service.status()
        if self._outage is not None:
            status += f"; database unavailable ({self._outage.splitlines()[0][:120]})"
        return status

    def _reload(self) -> None:
        self._reload_requested.clear()
        if self.load_config is None:
            return
        self.notifier.reloading()
        try:
            config = self.load_config()
        except ConfigError as error:
            for line in error.problems:
                log.error("reload refused: %s", line)
            log.error("%s keeps its running configuration", self.service.name)
        else:
            self.service.reload(config)
            log.info("%s: configuration reloaded", self.service.name)
            log_notices(config)
        self.notifier.ready()


def log_notices(config: Config) -> None:
    """Log what the configuration asks an operator to change (Config.notices) as warnings:
    at start, and after each reload."""
    for notice in config.notices:
        log.warning("%s", notice)
