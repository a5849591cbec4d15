"""A jobu daemon run as a subprocess by an acceptance test, with its output in a file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "etc" / "jobu"


def daemon_environment(tmp_path: Path, database_url: str) -> tuple[Path, dict[str, str]]:
    """A copy of the shipped configuration under tmp_path, and the environment a `jobu`
    daemon runs with there (no systemd variables of the test's own process leak in)."""
    config_dir = tmp_path / "etc-jobu"
    config_dir.mkdir()
    for shipped in SHIPPED_CONFIG.glob("*.yaml"):
        shutil.copy(shipped, config_dir / shipped.name)
    state_dir = tmp_path / "var-lib-jobu"
    state_dir.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("JOBU_", "NOTIFY_SOCKET", "WATCHDOG_"))}
    env.update(JOBU_CONFIG_DIR=str(config_dir), JOBU_STATE_DIR=str(state_dir),
               JOBU_DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
    return config_dir, env


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
