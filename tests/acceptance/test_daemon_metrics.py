"""A real `jobu worker` with worker.yaml's metrics_bind serves jobu's metrics, on each database:
what the admin's /metrics reports, without sign-in, on the port it was given; a port that
cannot be bound stops the start with exit 78 and says why."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobu.model import NewExecution
from tests.conftest import spec_url
from tests.servers import wait_until
from tests.support.pgcluster import free_port
from tests.support.processes import WorkerSite

pytestmark = pytest.mark.acceptance

GOOD = Path(__file__).resolve().parents[1] / "support" / "handler_trees" / "good"
FAST = {"pool_size": 2, "poll_interval_seconds": 0.2, "lease_seconds": 5,
        "heartbeat_interval_seconds": 0.5, "shutdown_timeout_seconds": 5,
        "handler_paths": [str(GOOD)]}


@pytest.fixture
def site(tmp_path, store, db_spec) -> Iterator[WorkerSite]:
    site = WorkerSite(tmp_path, spec_url(db_spec), FAST, store)
    yield site
    site.kill_all()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
    """The samples at `url`, or None while nothing answers there."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_a_worker_serves_the_metrics_on_its_metrics_bind(site, store):
    for _ in range(2):  # in a queue no worker serves: they wait
        store.execution_insert(NewExecution(handler_name="ok", queue="elsewhere"))
    bind = f"127.0.0.1:{free_port()}"
    site.write_worker_yaml(metrics_bind=bind)
    worker = site.start_worker()
    url = f"http://{bind}/metrics"

    def reported() -> dict | None:
        if not worker.alive():
            pytest.fail(f"jobu worker exited {worker.process.returncode}\n{worker.log}")
        got = scrape(url)
        live = got and got.get(("jobu_daemons", (("kind", "worker"),)))
        return got if live == 1 else None

    got = wait_until(reported, 30, interval=0.1, message="the worker's metrics")
    assert got[("jobu_database_up", ())] == 1
    assert got[("jobu_queue_depth", (("queue", "elsewhere"),))] == 2
    assert got[("jobu_queue_depth", (("queue", "default"),))] == 0  # worker.yaml's queue
    assert got[("jobu_executions", (("status", "PENDING"),))] == 2
    assert worker.stop() == 0, worker.log
    assert scrape(url) is None  # the server went with the worker


def test_a_metrics_bind_that_cannot_be_bound_stops_the_start(site):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        site.write_worker_yaml(metrics_bind=bind)
        worker = site.start_worker()
        assert worker.wait_exit(30) == 78, worker.log
    assert f"metrics_bind: cannot listen on {bind}" in worker.log
