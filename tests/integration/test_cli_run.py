"""`jobu run` does what `jobu worker` does at start: two-phase recovery before the first claim.

The daemon loop itself is replaced (run_daemon builds the service and returns), so what is
checked is the order in which `jobu run` builds its services, on the shipped configuration.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

import jobu.cli.run
import jobu.cli.worker
from jobu.cli import main

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "etc" / "jobu"


@pytest.fixture
def config_dir(tmp_path, monkeypatch) -> Path:
    config_dir = tmp_path / "etc-jobu"
    config_dir.mkdir()
    for shipped in SHIPPED_CONFIG.glob("*.yaml"):
        shutil.copy(shipped, config_dir / shipped.name)
    for name in ("JOBU_CONFIG_DIR", "JOBU_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBU_DATABASE_URL", f"sqlite:///{tmp_path / 'jobs.db'}")
    monkeypatch.setenv("JOBU_STATE_DIR", str(tmp_path / "state"))
    return config_dir


@pytest.mark.parametrize(("command", "module"), [("run", jobu.cli.run),
                                                 ("worker", jobu.cli.worker)])
def test_run_and_worker_recover_in_doubt_transactions_before_the_worker_exists(
        config_dir, monkeypatch, command, module):
    events: list[str] = []

    def fake_run_daemon(ctx, build, **options):
        build(ctx.config, ctx.store, threading.Event())
        return 0

    def recovered(config, store):
        events.append("recovery")

    real_build_worker = module.build_worker

    def build_worker(*args, **kwargs):
        events.append("worker")
        return real_build_worker(*args, **kwargs)

    monkeypatch.setattr(module, "run_daemon", fake_run_daemon)
    monkeypatch.setattr(module, "recover_at_daemon_start", recovered)
    monkeypatch.setattr(module, "build_worker", build_worker)
    assert main(["--config-dir", str(config_dir), command]) == 0
    assert events == ["recovery", "worker"]
