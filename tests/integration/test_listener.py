"""LISTEN/NOTIFY on PostgreSQL: committed inserts and cron changes wake listeners."""

from __future__ import annotations

import threading
import time

import pytest

from jobu.model import CronSpec, NewExecution
from jobu.store import open_store
from jobu.store.listener import CRONS_CHANNEL, EXECUTIONS_CHANNEL, Listener
from tests.servers import wait_until


@pytest.fixture
def pg_store(fresh_database):
    spec = fresh_database("postgres")
    store = open_store(spec)
    store.migrate()
    yield store
    store.close()


def test_a_committed_insert_wakes_the_listener_at_once(pg_store):
    heard, woken = [], threading.Event()

    def on_notify(channel, payload):
        heard.append((channel, payload))
        woken.set()

    listener = Listener(pg_store.database.spec, [EXECUTIONS_CHANNEL], on_notify).start()
    try:
        wait_until(listener.listening.is_set, message="the listener to LISTEN")
        started = time.monotonic()
        pg_store.execution_insert(NewExecution("noop", queue="reports"))
        assert woken.wait(5)
        assert time.monotonic() - started < 1.0
        assert heard == [(EXECUTIONS_CHANNEL, "reports")]
        pg_store.cron_create(CronSpec(name="c", schedule="@daily", handler_name="noop"))
        pg_store.execution_insert(NewExecution("noop"))
        wait_until(lambda: len(heard) == 2, message="the second notification")
        assert heard[1] == (EXECUTIONS_CHANNEL, "default")  # cron changes go elsewhere
    finally:
        started = time.monotonic()
        listener.stop()
        assert time.monotonic() - started < 3


def test_cron_changes_notify_dispatchers(pg_store):
    heard = []
    listener = Listener(pg_store.database.spec, [CRONS_CHANNEL],
                        lambda channel, payload: heard.append(payload)).start()
    try:
        wait_until(listener.listening.is_set, message="the listener to LISTEN")
        pg_store.cron_create(CronSpec(name="nightly", schedule="@daily", handler_name="noop"))
        pg_store.cron_update("nightly", priority=3)
        pg_store.cron_delete("nightly")
        wait_until(lambda: heard == ["nightly"] * 3, message="three cron notifications")
    finally:
        listener.stop()
