"""jobu: a batch-job scheduler for Debian/Ubuntu servers.

Cron schedules, events and on-demand calls become rows in one SQL database;
daemons claim and run them with retries, timeouts and leases.

The names most programs need are importable from here; they load lazily, so that
``import jobu`` stays cheap for a handler module:

* ``Client`` — enqueue, schedule (add_cron_job, add_interval_job, add_date_job, …)
  and inspect (get_jobs, status, stats); see docs/python-api.md;
* ``JobInfo``, ``JobStats``, ``SchedulerStatus`` — what the Client returns about jobs;
* ``handler``, ``BaseHandler`` — how business code marks its handlers;
* ``JobuError`` and the errors programs catch most (the rest are in jobu.errors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from jobu.client import Client
    from jobu.errors import (
        AlreadyExistsError,
        CronNotFoundError,
        ExecutionNotFoundError,
        InvalidInputError,
        InvalidStateError,
        JobuError,
        PermanentError,
        RetryLater,
    )
    from jobu.handlers import BaseHandler, handler
    from jobu.operations.jobs import JobInfo
    from jobu.operations.stats import JobStats
    from jobu.operations.status import SchedulerStatus

__all__ = ["AlreadyExistsError", "BaseHandler", "Client", "CronNotFoundError",
           "ExecutionNotFoundError", "InvalidInputError", "InvalidStateError", "JobInfo",
           "JobStats", "JobuError", "PermanentError", "RetryLater", "SchedulerStatus",
           "__version__", "handler"]

_LAZY = {
    "Client": "jobu.client",
    "JobInfo": "jobu.operations.jobs",
    "JobStats": "jobu.operations.stats",
    "SchedulerStatus": "jobu.operations.status",
    "BaseHandler": "jobu.handlers",
    "handler": "jobu.handlers",
    **dict.fromkeys(["AlreadyExistsError", "CronNotFoundError", "ExecutionNotFoundError",
                     "InvalidInputError", "InvalidStateError", "JobuError", "PermanentError",
                     "RetryLater"], "jobu.errors"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jobu' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(module), name)
