"""What a view reaches of jobu: the configuration, the store and the clock of this process.

Views pass these to jobu.operations; nothing else in the admin touches the store.
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app

from jobu.clock import Clock
from jobu.config import Config
from jobu.operations.crons import CronRules
from jobu.store import Store

KEY = "jobu"


def install(app: Flask, *, config: Config, store: Store, clock: Clock) -> None:
    app.extensions[KEY] = {"config": config, "store": store, "clock": clock}


def config() -> Config:
    return current_app.extensions[KEY]["config"]


def store() -> Store:
    return current_app.extensions[KEY]["store"]


def clock() -> Clock:
    return current_app.extensions[KEY]["clock"]


def now() -> datetime:
    return clock().now()


def rules() -> CronRules:
    """dispatcher.yaml's rules for crons (default time zone, minimum interval)."""
    return CronRules.of(config().dispatcher)


def page_size() -> int:
    return config().admin.page_size


def read_only() -> bool:
    return config().admin.read_only
