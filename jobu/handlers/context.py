"""JobContext: what a running handler knows about its execution and can tell jobu."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from jobu.errors import HandlerError


class JobContext:
    """Given to every handler as `ctx`.

    * ``execution_id``, ``handler_name``, ``cron_name`` (None for events and
      enqueues), ``attempt`` (1 for the first), ``scheduled_time``;
    * ``logger``: log lines that carry the execution id and handler;
    * ``cancelled``: True once an operator cancelled the execution, its deadline
      passed, or the worker lost its lease. Long handlers should look at it and
      stop; ``wait(seconds)`` sleeps but returns early (True) when cancelled;
    * ``progress(fraction, note)``: shown in the history while the job runs;
    * ``db(name)``: a database named in database.yaml (worker.yaml ``databases``).
    """

    def __init__(self, *, execution_id: int, handler_name: str, attempt: int,
                 cron_name: str | None = None, scheduled_time: datetime | None = None,
                 report_progress: Callable[[float, str | None], None] | None = None,
                 databases: Callable[[str], Any] | None = None,
                 cancel_event: threading.Event | None = None) -> None:
        self.execution_id = execution_id
        self.handler_name = handler_name
        self.attempt = attempt
        self.cron_name = cron_name
        self.scheduled_time = scheduled_time
        self._report_progress = report_progress
        self._databases = databases
        self._cancel = cancel_event or threading.Event()
        self._logger: logging.LoggerAdapter | None = None

    @property
    def logger(self) -> logging.LoggerAdapter:
        """Log lines that carry the execution id and handler (made on first use: most
        handlers of a busy worker never log, and the adapter is not free)."""
        if self._logger is None:
            self._logger = logging.LoggerAdapter(
                logging.getLogger(f"jobu.job.{self.handler_name}"),
                {"execution_id": self.execution_id, "handler": self.handler_name,
                 "attempt": self.attempt})
            self._logger.process = self._prefix  # type: ignore[method-assign]
        return self._logger

    def _prefix(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**self.logger.extra, **kwargs.get("extra", {})}
        return f"execution {self.execution_id} ({self.handler_name}): {msg}", kwargs

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if the execution was cancelled meanwhile."""
        return self._cancel.wait(seconds)

    def progress(self, fraction: float, note: str | None = None) -> None:
        """Record how far the job is (0.0 to 1.0), with an optional note."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"progress is a fraction from 0 to 1, got {fraction}")
        if self._report_progress is not None:
            self._report_progress(fraction, note)

    def db(self, name: str) -> Any:
        """The database called `name` in database.yaml, for this worker's handlers."""
        if self._databases is None:
            raise HandlerError("this worker gives its handlers no databases "
                               "(worker.yaml `databases:`)")
        return self._databases(name)
