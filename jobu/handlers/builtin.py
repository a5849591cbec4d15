"""Handlers every worker has: for checks, smoke tests and benchmarks."""

from __future__ import annotations

import threading
import time
from typing import Any

from jobu.handlers import handler
from jobu.handlers.context import JobContext


@handler("noop")
def noop(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Do nothing; return the params (shows that a worker runs jobs)."""
    return params


@handler("sleep")
def sleep(ctx: JobContext, params: dict[str, Any]) -> dict[str, float]:
    """Sleep `seconds` (default 1), stopping early when cancelled.

    With ``"ignore_cancel": true`` it sleeps the whole time whatever happens: a
    handler that hangs, for testing timeouts, stuck threads and the watchdog.
    """
    seconds = float(params.get("seconds", 1.0))
    started = time.monotonic()
    if params.get("ignore_cancel"):
        threading.Event().wait(seconds)
    else:
        ctx.wait(seconds)
    return {"slept": round(time.monotonic() - started, 3)}
