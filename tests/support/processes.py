"""jobu daemons run as subprocesses by acceptance tests, with their output in files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from jobu.store import Store
from tests.servers import wait_until

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "etc" / "jobu"
#: The `jobu` executable of the venv the tests run in.
JOBU = Path(sys.executable).parent / "jobu"


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


class WorkerProcess(DaemonProcess):
    """One `jobu worker` subprocess and where its output goes."""

    command = "worker"


@dataclass
class WorkerSite:
    """A configuration directory for `jobu worker` processes on one database, and those
    processes: what the acceptance tests of the worker start their workers from.

    `settings` is the worker.yaml of the site's tests, before each test's own; `store`,
    when given, is the jobs database, for wait_registered.
    """

    tmp_path: Path
    database_url: str
    settings: dict[str, Any] = field(default_factory=dict)
    store: Store | None = None
    config_dir: Path = field(init=False)
    env: dict[str, str] = field(init=False)
    workers: list[WorkerProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config_dir, self.env = daemon_environment(self.tmp_path, self.database_url)

    def write_worker_yaml(self, name: str = "worker.yaml", **settings: Any) -> Path:
        """Write a worker configuration: the site's settings with `settings` over them."""
        path = self.config_dir / name
        path.write_text(yaml.safe_dump({**self.settings, **settings}))
        return path

    def tune_database(self, **settings: Any) -> None:
        """Set keys of the jobs database in database.yaml (timeouts, pool size)."""
        path = self.config_dir / "database.yaml"
        values = yaml.safe_load(path.read_text())
        values["databases"]["default"].update(settings)
        path.write_text(yaml.safe_dump(values))

    def start_worker(self, *args: str, env: dict[str, str] | None = None,
                     label: str | None = None) -> WorkerProcess:
        """Start `jobu worker ARGS…`, its output in LABEL.log under tmp_path."""
        label = label or f"worker-{len(self.workers) + 1}"
        log_path = self.tmp_path / f"{label}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([str(JOBU), "worker", *args], stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT,
                                       env={**self.env, **(env or {})}, cwd=self.tmp_path)
        worker = WorkerProcess(process, log_path)
        self.workers.append(worker)
        return worker

    def wait_registered(self, worker: WorkerProcess, timeout: float = 20) -> str:
        """The worker id of `worker` once it has registered in `workers`."""
        store = self.store
        assert store is not None, "wait_registered needs the site's store"

        def registered() -> str | None:
            if not worker.alive():
                pytest.fail(f"jobu worker exited {worker.process.returncode}\n{worker.log}")
            ids = [w.id for w in store.worker_list() if w.pid == worker.pid]
            return ids[0] if ids else None
        return wait_until(registered, timeout, interval=0.05,
                          message=f"jobu worker {worker.pid} to register")

    def logs(self, tail: int | None = None) -> str:
        """Every worker's log (its last `tail` characters), for a failing test's message."""
        return "\n".join(f"--- {w.log_path.name} (pid {w.pid}, exit {w.process.poll()})\n"
                         f"{w.log[-tail:] if tail else w.log}" for w in self.workers)

    def kill_all(self) -> None:
        """SIGKILL every worker still running (a fixture's cleanup)."""
        for worker in self.workers:
            if worker.alive():
                worker.process.kill()
                worker.process.wait(10)
