"""What wakes an idle daemon: LISTEN/NOTIFY on PostgreSQL, and the pollers of SQLite and MySQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from jobu.model import CronSpec, NewExecution
from jobu.store import open_store
from jobu.store.listener import (
    CRONS_CHANNEL,
    EXECUTIONS_CHANNEL,
    Listener,
    LocalChangeWatcher,
    RunnableProbe,
)
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


# --- the pollers of the databases without LISTEN/NOTIFY ----------------------------------


@pytest.fixture
def migrated(fresh_database):
    def make(dialect):
        store = open_store(fresh_database(dialect))
        store.migrate()
        opened.append(store)
        return store
    opened = []
    yield make
    for store in opened:
        store.close()


def test_the_mysql_probe_wakes_for_runnable_rows_of_its_queues_only(migrated):
    store = migrated("mysql")
    woken = threading.Event()
    probe = RunnableProbe(store.database.dialect.connect,
                          store.query("execution_runnable_probe"), ["reports", "mail"],
                          woken.set, interval_seconds=0.02).start()
    try:
        later = store.database_now() + timedelta(hours=1)
        store.execution_insert(NewExecution("noop", queue="default"))
        store.execution_insert(NewExecution("noop", queue="reports", run_after=later))
        # Several probes go by without a reason to wake.
        assert not woken.wait(0.3)
        store.execution_insert(NewExecution("noop", queue="mail"))
        assert woken.wait(5)
    finally:
        probe.stop()


def test_the_sqlite_watcher_wakes_on_another_connections_commit(migrated):
    store = migrated("sqlite")
    woken = threading.Event()
    watcher = LocalChangeWatcher(store.database.spec.path, woken.set,
                                 interval_seconds=0.02).start()
    try:
        assert not woken.wait(0.2)
        store.execution_insert(NewExecution("noop"))
        assert woken.wait(5)
    finally:
        watcher.stop()
