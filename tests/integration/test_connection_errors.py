"""A database that cannot be reached, or that refuses jobu at the door, answers at once with
the server's reason: not after pool_timeout_seconds, and without the driver's retry chatter
on stderr (issue 10)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from jobu import Client
from jobu.errors import DatabaseUnavailableError
from tests.servers import MYSQL_URL, POSTGRES_URL, require_server

SERVERS = [pytest.param(POSTGRES_URL, "PostgreSQL", id="postgres", marks=pytest.mark.postgres),
           pytest.param(MYSQL_URL, "MariaDB", id="mysql", marks=pytest.mark.mysql)]


def with_part(url: str, *, port: int | None = None, dbname: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if port is not None:
        netloc = f"{netloc.rsplit(':', 1)[0]}:{port}"
    path = f"/{dbname}" if dbname is not None else parts.path
    return urlunsplit(parts._replace(netloc=netloc, path=path))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def enqueue_error(url: str) -> tuple[float, DatabaseUnavailableError]:
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError) as raised, Client(database_url=url) as client:
        client.enqueue("noop")
    return time.monotonic() - started, raised.value


@pytest.mark.parametrize(("url", "what"), SERVERS)
def test_a_missing_database_is_named_at_once(url, what, capsys):
    require_server(url, what)
    took, error = enqueue_error(with_part(url, dbname="jobu_no_such_database"))
    assert took < 2, f"{took:.1f} s"
    assert "jobu_no_such_database" in str(error) and "database.yaml" in str(error)
    assert "error connecting" not in capsys.readouterr().err


@pytest.mark.parametrize(("url", "what"), SERVERS)
def test_a_server_that_is_not_there_is_named_at_once(url, what, capsys):
    took, error = enqueue_error(with_part(url, port=free_port()))
    assert took < 2, f"{took:.1f} s"
    assert "refused" in str(error).lower()
    assert "error connecting" not in capsys.readouterr().err
