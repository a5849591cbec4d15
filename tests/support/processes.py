"""A jobu daemon run as a subprocess by an acceptance test, with its output in a file."""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest


@dataclass
class DaemonProcess:
    """One `jobu <command>` subprocess and where its output goes."""

    process: subprocess.Popen
    log_path: Path
    command: ClassVar[str] = "daemon"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"jobu {self.command} {self.pid} did not exit within {timeout} s\n"
                        f"{self.log}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, and the exit code once it has ended."""
        if self.alive():
            self.signal(signal.SIGTERM)
        return self.wait_exit(timeout)
