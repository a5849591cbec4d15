"""jobu.systemd.Notifier against a real notification socket: what it sends, and that it closes."""

from __future__ import annotations

import gc
import warnings

import pytest

from jobu.systemd import Notifier
from tests.support.notify import NotifySocket


@pytest.fixture
def notify(monkeypatch):
    with NotifySocket() as socket:
        monkeypatch.setenv("NOTIFY_SOCKET", socket.path)
        monkeypatch.delenv("WATCHDOG_USEC", raising=False)
        yield socket


def test_ready_and_status_arrive_as_one_datagram(notify):
    with Notifier() as notifier:
        notifier.ready("serving")
    notify.wait_for("READY=1")
    assert notify.lines() == ["READY=1", "STATUS=serving"]


def test_close_releases_the_socket_and_sends_nothing_more(notify):
    notifier = Notifier()
    notifier.status("one")
    notify.wait_for("STATUS=one")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        notifier.close()
        notifier.status("two")  # after close: dropped, not an error
        del notifier
        gc.collect()
    assert "STATUS=two" not in notify.lines()


def test_outside_systemd_every_call_does_nothing(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    with Notifier() as notifier:
        notifier.ready("x")
        notifier.watchdog()
    assert not notifier.enabled
    assert notifier.sent == ["READY=1\nSTATUS=x"]
