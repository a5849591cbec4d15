"""jobu's numbers in Prometheus' text format: one registry, for the admin and the daemons.

`build_registry` makes a prometheus_client CollectorRegistry whose collector reads the jobs
database (`jobu.operations.metrics`) at each scrape, so every process that serves it (the
admin's /metrics, a daemon's `metrics_bind`) reports the same numbers. `MetricsServer` serves
a registry on a host:port in a thread of a daemon.

A scrape while the database does not answer still succeeds: `jobu_database_up` is 0 and the
other families are absent (Prometheus then has no data rather than false zeros).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric

from jobu.clock import Clock, SystemClock
from jobu.config import Config
from jobu.errors import ConfigError, DatabaseError
from jobu.operations.metrics import MetricsSnapshot, collect_metrics
from jobu.store import Store

__all__ = ["JobuCollector", "MetricsServer", "build_registry", "families"]

log = logging.getLogger(__name__)


def build_registry(store: Store, config: Config, clock: Clock | None = None) -> CollectorRegistry:
    """A registry with jobu's collector over `store`, set up from `config`: worker.yaml's
    queues and heartbeat (which daemons are live), queue.yaml's `enabled` (dead letters)."""
    clock = clock or SystemClock()

    def read() -> MetricsSnapshot:
        return collect_metrics(
            store, clock, queues=config.worker.queues,
            heartbeat_interval_seconds=config.worker.heartbeat_interval_seconds,
            queue_intake_enabled=config.queue.enabled)

    registry = CollectorRegistry()
    registry.register(JobuCollector(read))
    return registry


class JobuCollector:
    """A prometheus_client collector that reads a fresh snapshot at each scrape."""

    def __init__(self, read: Callable[[], MetricsSnapshot]) -> None:
        self._read = read

    def describe(self) -> list[Metric]:
        """Nothing at registration: describing would read the database before it is needed."""
        return []

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("jobu_database_up",
                               "1 when the jobs database answered this scrape, else 0")
        try:
            snapshot = self._read()
        except DatabaseError as error:
            log.warning("metrics: the jobs database did not answer: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families(snapshot)


def families(snapshot: MetricsSnapshot) -> Iterator[Metric]:
    """The Prometheus families of one snapshot (without jobu_database_up)."""
    window = f"{snapshot.window_seconds:g} s"
    executions = GaugeMetricFamily(
        "jobu_executions", "Executions not finished yet, by status", labels=["status"])
    for status, count in snapshot.active.items():
        executions.add_metric([status.value], count)
    yield executions

    depth = GaugeMetricFamily(
        "jobu_queue_depth", "Runnable executions (PENDING or RETRY whose run_after has come) "
        "waiting for a worker, by queue", labels=["queue"])
    oldest = GaugeMetricFamily(
        "jobu_queue_oldest_waiting_seconds", "How long the oldest runnable execution of the "
        "queue has waited since its run_after (0: none waits)", labels=["queue"])
    for queue, backlog in snapshot.queues.items():
        depth.add_metric([queue], backlog.waiting)
        oldest.add_metric([queue], backlog.oldest_age_seconds)
    yield depth
    yield oldest

    yield GaugeMetricFamily("jobu_recent_window_seconds", "How far back the jobu_recent_* "
                            "families reach", value=snapshot.window_seconds)
    finished = GaugeMetricFamily(
        "jobu_recent_executions", f"Executions that ended in the last {window}, by final "
        "status", labels=["status"])
    for status, count in snapshot.finished.items():
        finished.add_metric([status.value], count)
    yield finished
    yield GaugeMetricFamily("jobu_recent_runs", f"Runs (SUCCESS, FAILED, TIMEOUT) that ended "
                            f"in the last {window}", value=snapshot.timed_runs)
    yield from _statistic("jobu_recent_duration_avg_seconds",
                          f"Average duration of the runs that ended in the last {window}",
                          snapshot.avg_duration_seconds)
    yield from _statistic("jobu_recent_duration_p95_seconds",
                          f"95th percentile (nearest rank) of the durations of the runs that "
                          f"ended in the last {window}", snapshot.p95_duration_seconds)
    yield from _statistic("jobu_recent_start_lateness_avg_seconds",
                          f"Average delay between scheduled time and start, of the runs with "
                          f"a scheduled time that ended in the last {window}",
                          snapshot.avg_start_lateness_seconds)
    yield from _statistic("jobu_recent_start_lateness_p95_seconds",
                          f"95th percentile (nearest rank) of the start lateness of the runs "
                          f"with a scheduled time that ended in the last {window}",
                          snapshot.p95_start_lateness_seconds)

    daemons = GaugeMetricFamily(
        "jobu_daemons", "Registered daemons with a recent heartbeat (not stale), by kind",
        labels=["kind"])
    for kind, count in snapshot.daemons.items():
        daemons.add_metric([kind], count)
    yield daemons

    if snapshot.dead_letters is not None:
        yield GaugeMetricFamily("jobu_dead_letters", "Dead letters kept by jobu-queued",
                                value=snapshot.dead_letters)


def _statistic(name: str, documentation: str, value: float | None) -> Iterator[Metric]:
    """A gauge of one value, or nothing when there was nothing to measure."""
    if value is not None:
        yield GaugeMetricFamily(name, documentation, value=value)


# --- a daemon's metrics_bind ---------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    """No line on standard error per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """A scrape per thread, so a slow database answer does not queue the next scrape."""

    daemon_threads = True


class MetricsServer:
    """A registry served over HTTP on `bind` (host:port) by a thread of this process."""

    def __init__(self, server: WSGIServer) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="jobu-metrics",
                                        daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, bind: str, registry: CollectorRegistry) -> MetricsServer:
        """Listen on `bind` now; ConfigError saying why when it cannot (taken, no such
        address, a port below 1024 without the right)."""
        host, _, port = bind.rpartition(":")
        host = host.strip("[]")

        class Server(_ThreadingServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        try:
            server = make_server(host, int(port), make_wsgi_app(registry), Server,
                                 handler_class=_QuietHandler)
        except OSError as error:
            raise ConfigError(f"metrics_bind: cannot listen on {bind}: "
                              f"{error.strerror or error}") from None
        return cls(server)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
