"""Where the test database servers are, and helpers for tests that need them.

`make test` (packaging/test-env.sh) starts PostgreSQL and MariaDB on 127.0.0.1 if they are down
and creates the `jobu_test` role, user and databases these URLs name. Point the tests elsewhere
with JOBU_TEST_POSTGRES_URL / JOBU_TEST_MYSQL_URL.

A test that needs a server which does not answer fails under CI (CI=true) and is skipped, with
the reason, on a developer's machine.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import NoReturn, TypeVar
from urllib.parse import urlsplit

import pytest

T = TypeVar("T")

POSTGRES_URL: str = os.environ.get(
    "JOBU_TEST_POSTGRES_URL", "postgresql://jobu_test:jobu_test@127.0.0.1:5432/jobu_test"
)
MYSQL_URL: str = os.environ.get(
    "JOBU_TEST_MYSQL_URL", "mysql://jobu_test:jobu_test@127.0.0.1:3306/jobu_test"
)

_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mariadb": 3306}


def in_ci() -> bool:
    """True when running under CI (the CI environment variable is "true" or "1")."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]  # "mysql+pymysql" -> "mysql"
    port = parts.port or _DEFAULT_PORTS.get(scheme)
    if port is None:
        raise ValueError(f"no port in {redact(url)!r} and no default for scheme {scheme!r}")
    return parts.hostname or "127.0.0.1", port


def redact(url: str) -> str:
    """`url` with its password replaced by ***, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def server_reachable(url: str, timeout: float = 2.0) -> bool:
    """True if something accepts a TCP connection at the host and port of `url`."""
    try:
        with socket.create_connection(_address(url), timeout=timeout):
            return True
    except OSError:
        return False


def require_server(url: str, what: str) -> None:
    """Fail (under CI) or skip (elsewhere) the calling test if `url`'s server does not answer."""
    if server_reachable(url):
        return
    host, port = _address(url)
    reason = (
        f"{what} is not reachable at {host}:{port} ({redact(url)}). "
        "`make test` starts and provisions the local test servers (packaging/test-env.sh); "
        "or point JOBU_TEST_POSTGRES_URL / JOBU_TEST_MYSQL_URL at a running server."
    )
    _fail_or_skip(reason)


def _fail_or_skip(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{reason} CI=true, so this is a failure, not a skip.", pytrace=False)
    pytest.skip(reason)


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "",
) -> T:
    """Call `predicate` until it returns something truthy, and return that value.

    Raises AssertionError (naming `message`, or the predicate, and its last value) when
    `timeout` seconds pass first. The predicate is always tried once more at the deadline.
    Exceptions from the predicate propagate. Tests wait with this, never with a fixed sleep.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            what = message or getattr(predicate, "__qualname__", repr(predicate))
            raise AssertionError(
                f"timed out after {timeout:g}s waiting for {what} (last value: {value!r})"
            )
        time.sleep(min(interval, remaining))


__all__ = [
    "MYSQL_URL",
    "POSTGRES_URL",
    "in_ci",
    "redact",
    "require_server",
    "server_reachable",
    "wait_until",
]
