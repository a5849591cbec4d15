"""Talking to systemd: readiness, watchdog, status and stop notifications.

Outside systemd (no NOTIFY_SOCKET) every call does nothing, so daemons call these
unconditionally. This module and config are the only ones that read the
environment: NOTIFY_SOCKET (through sdnotify), WATCHDOG_USEC / WATCHDOG_PID and
JOURNAL_STREAM are systemd's interface, not configuration.
"""

from __future__ import annotations

import os
import time

import sdnotify


class Notifier:
    """sd_notify messages for one daemon process."""

    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._notifier = sdnotify.SystemdNotifier() if self.enabled else None
        self.watchdog_seconds = watchdog_interval()
        self.sent: list[str] = []  # the last messages, for tests and debugging

    def send(self, *fields: str) -> None:
        message = "\n".join(fields)
        self.sent = (self.sent + [message])[-50:]
        if self._notifier is not None:
            self._notifier.notify(message)

    def ready(self, status: str | None = None) -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> None:
        # MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match the reload; older
        # systemd ignores it. READY=1 must follow when the reload is done.
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={now_usec}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        if self.watchdog_seconds is not None:
            self.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def extend_timeout(self, seconds: float) -> None:
        """Ask systemd to wait `seconds` more for the current start or stop."""
        self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def close(self) -> None:
        """Close the socket to systemd; later messages are not sent."""
        sock = getattr(self._notifier, "socket", None)
        if sock is not None:
            sock.close()
        self._notifier = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def watchdog_interval() -> float | None:
    """Seconds systemd allows between WATCHDOG=1 messages, or None if it asks for none."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        return int(usec) / 1_000_000 or None
    except ValueError:
        return None


def stderr_is_journal() -> bool:
    """True when stderr is connected to systemd's journal (then it stamps the time)."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = stream.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat(2)
    except OSError:
        return False
    return stat.st_dev == int(device) and stat.st_ino == int(inode)
