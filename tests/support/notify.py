"""A stand-in for systemd's notification socket: what a daemon tells sd_notify, and when.

    with NotifySocket() as notify:
        env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"}
        ... start the daemon with env ...
        notify.wait_for("READY=1")
        notify.times("WATCHDOG=1")   # monotonic times each one arrived

Every datagram is split into its lines (``READY=1\\nSTATUS=…`` is two messages that
arrived at one time). The socket lives in a short directory of its own: a Unix
socket path may not be longer than about 100 bytes, which pytest's tmp_path can be.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

from tests.servers import wait_until


class NotifySocket:
    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="jobu-notify-"))
        self.path = str(self._dir / "notify.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.2)
        self._lock = threading.Lock()
        self._messages: list[tuple[float, str]] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="notify-socket", daemon=True)
        self._thread.start()

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        with contextlib.suppress(OSError):
            self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            with self._lock:
                self._messages += [(now, line) for line in data.decode().splitlines() if line]

    @property
    def messages(self) -> list[tuple[float, str]]:
        """(arrival time, line) of everything received so far."""
        with self._lock:
            return list(self._messages)

    def lines(self) -> list[str]:
        return [line for _, line in self.messages]

    def times(self, line: str, since: float = 0.0) -> list[float]:
        """When `line` arrived, each time, at or after monotonic time `since`."""
        return [t for t, got in self.messages if got == line and t >= since]

    def statuses(self, since: float = 0.0) -> list[tuple[float, str]]:
        return [(t, got.removeprefix("STATUS=")) for t, got in self.messages
                if got.startswith("STATUS=") and t >= since]

    def wait_for(self, line: str, timeout: float = 20.0, since: float = 0.0) -> float:
        """The arrival time of the first `line` at or after `since`."""
        return wait_until(lambda: (self.times(line, since) or [None])[0], timeout,
                          message=f"{line!r} on the notification socket (got "
                                  f"{self.lines()[-5:]})")

    def wait_for_status(self, pattern: str, timeout: float = 20.0,
                        since: float = 0.0) -> tuple[float, str]:
        """The first STATUS= that matches the regular expression `pattern` (search)."""
        regex = re.compile(pattern)

        def found() -> tuple[float, str] | None:
            return next(((t, s) for t, s in self.statuses(since) if regex.search(s)), None)
        return wait_until(found, timeout, message=f"a STATUS= matching {pattern!r} (last: "
                                                  f"{self.statuses()[-3:]})")
