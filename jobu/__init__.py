"""jobu: a batch-job scheduler for Debian/Ubuntu servers.

Cron schedules, events and on-demand calls become rows in one SQL database;
daemons claim and run them with retries, timeouts and leases.

The names most programs need are importable from here; they load lazily, so that
``import jobu`` stays cheap for a handler module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from jobu.client import Client
    from jobu.errors import JobuError, PermanentError, RetryLater

__all__ = ["Client", "JobuError", "PermanentError", "RetryLater", "__version__"]

_LAZY = {
    "Client": "jobu.client",
    "JobuError": "jobu.errors",
    "PermanentError": "jobu.errors",
    "RetryLater": "jobu.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jobu' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(module), name)
