"""Handlers the worker tests use to see what a worker did, across processes too.

Each leaves a durable trace (its result, a file) or blocks in a way the test
controls, so that a test can tell which run of an execution did what:

* ``record_id`` returns the execution id: a row whose result is its own id ran its
  handler for that row;
* ``pid_then_hang`` writes its process id to a file, then sleeps ignoring
  cancellation (under ``isolation: process`` the pid is the child's; with
  ``ignore_sigterm`` the child ignores SIGTERM too, and has to be killed);
* ``hang_first_attempt`` sleeps through its first attempt, ignoring cancellation,
  and returns at once on a later one (a worker killed mid-job, then rescued);
* ``slow_once`` sleeps the first time it runs for an execution, ignoring
  cancellation, and returns at once the next time, whatever the attempt number (a
  job handed back at shutdown runs again as the same attempt);
* ``pid_then_hang_isolated`` is ``pid_then_hang`` with ``isolation="process"`` on the
  handler itself;
* ``exits`` calls sys.exit() (a script turned handler); ``dies_hard`` ends its process
  with os._exit() (a crash in C code): under ``isolation: process`` only;
* ``gate`` blocks, ignoring cancellation, until the test opens the named gate
  (in-process tests only: the gates live in this module).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from jobu.handlers import handler

#: gate name -> Event, opened by in-process tests (open_all_gates() when a test ends).
GATES: dict[str, threading.Event] = {}
_GATES_LOCK = threading.Lock()


def gate_event(name: str) -> threading.Event:
    with _GATES_LOCK:
        return GATES.setdefault(name, threading.Event())


def open_all_gates() -> None:
    with _GATES_LOCK:
        for event in GATES.values():
            event.set()
        GATES.clear()


@handler("record_id")
def record_id(ctx, params):
    return ctx.execution_id


@handler("pid_then_hang")
def pid_then_hang(ctx, params):
    if params.get("ignore_sigterm"):  # in a child process only: a handler that has to be killed
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pid_file = Path(params["pid_file"])
    partial = pid_file.with_suffix(".partial")
    partial.write_text(str(os.getpid()))
    partial.rename(pid_file)  # the test never reads half a pid
    threading.Event().wait(float(params.get("seconds", 10)))
    return "woke up"


@handler("hang_first_attempt")
def hang_first_attempt(ctx, params):
    if ctx.attempt == 1:
        threading.Event().wait(float(params.get("seconds", 60)))
    return {"attempt": ctx.attempt, "pid": os.getpid()}


@handler("slow_once")
def slow_once(ctx, params):
    marker = Path(params["dir"]) / f"ran-{ctx.execution_id}"
    if marker.exists():
        return {"second_run": True, "pid": os.getpid()}
    marker.write_text(str(os.getpid()))
    started = time.monotonic()
    threading.Event().wait(float(params.get("seconds", 60)))
    return {"second_run": False, "slept": round(time.monotonic() - started, 3)}


@handler("pid_then_hang_isolated", isolation="process")
def pid_then_hang_isolated(ctx, params):
    """pid_then_hang, asking for a child process itself (per handler, not per enqueue)."""
    return pid_then_hang(ctx, params)


@handler("gate")
def gate(ctx, params):
    """Waits for the gate, ignoring cancellation; with "only_attempt", other attempts pass."""
    if params.get("only_attempt", ctx.attempt) != ctx.attempt:
        return {"attempt": ctx.attempt, "waited": False}
    opened = gate_event(params["gate"]).wait(float(params.get("max_seconds", 30)))
    return {"attempt": ctx.attempt, "waited": True, "opened": opened}


@handler("exits")
def exits(ctx, params):
    """Calls sys.exit(), as a script turned into a handler may do."""
    sys.exit(params.get("code", 3))


@handler("dies_hard")
def dies_hard(ctx, params):
    """Ends its process at once, with no cleanup: only ever run it with isolation process."""
    os._exit(int(params.get("code", 7)))
