"""Running a handler in a child process that can be killed (``isolation: process``).

A thread cannot be stopped, a process can. The child is spawned (never forked
from a threaded worker), imports the handler's module by name and runs it; the
parent's pool thread relays progress and waits. When the attempt is ended —
deadline, cancel, lease lost, shutdown — the parent sends SIGTERM, then SIGKILL
after a grace period, so the child is gone within about a second of the deadline.
"""

from __future__ import annotations

import importlib
import multiprocessing
import threading
import traceback
from typing import Any

from jobu.errors import HandlerError, PermanentError, RetryLater
from jobu.handlers import MARK, HandlerSpec, JobContext

#: Seconds between SIGTERM and SIGKILL for a child that has to go.
KILL_GRACE_SECONDS = 0.5
SPAWN = multiprocessing.get_context("spawn")


class ChildError(HandlerError):
    """The handler failed in its child process; the message and traceback are the child's."""

    def __init__(self, message: str, remote_traceback: str | None) -> None:
        super().__init__(message)
        self.remote_traceback = remote_traceback


def run_in_child_process(spec: HandlerSpec, params: dict[str, Any], ctx: JobContext,
                         cancel: threading.Event, database_specs: Any = None) -> Any:
    """Run the handler in a child process; return its result or raise its error."""
    parent_end, child_end = SPAWN.Pipe(duplex=False)
    context = {"execution_id": ctx.execution_id, "handler_name": ctx.handler_name,
               "attempt": ctx.attempt, "cron_name": ctx.cron_name,
               "scheduled_time": ctx.scheduled_time}
    child = SPAWN.Process(target=child_main, name=f"jobu-{spec.name}-{ctx.execution_id}",
                          args=(spec.module, spec.qualname, params, context, child_end,
                                database_specs), daemon=True)
    child.start()
    child_end.close()
    try:
        while True:
            if cancel.is_set():
                _stop(child)
                raise HandlerError("the child process was stopped")
            if parent_end.poll(0.05):
                try:
                    message = parent_end.recv()
                except EOFError:
                    message = None
                if message is None:
                    child.join(1)
                    raise HandlerError(f"the child process ended without a result "
                                       f"(exit code {child.exitcode})")
                kind = message[0]
                if kind == "progress":
                    ctx.progress(message[1], message[2])
                    continue
                child.join(5)
                if kind == "result":
                    return message[1]
                raise _rebuild(message)
            if not child.is_alive() and not parent_end.poll(0):
                raise HandlerError(f"the child process died (exit code {child.exitcode})")
    finally:
        parent_end.close()
        if child.is_alive():
            _stop(child)


def _stop(child: multiprocessing.process.BaseProcess) -> None:
    child.terminate()
    child.join(KILL_GRACE_SECONDS)
    if child.is_alive():
        child.kill()
        child.join(5)


def _rebuild(message: tuple) -> BaseException:
    _, kind, text, remote_traceback, delay = message
    if kind == "permanent":
        return PermanentError(text)
    if kind == "retry_later":
        return RetryLater(delay, text)
    return ChildError(text, remote_traceback)


def child_main(module: str, qualname: str, params: dict[str, Any], context: dict[str, Any],
               conn: Any, database_specs: Any) -> None:
    """The child process: import the handler, run it, send back its outcome."""
    databases = None
    if database_specs:
        from jobu.db import DatabaseRegistry, use_databases
        # As in the worker: ctx.db(name) and transactional("name") reach the same databases,
        # with :name parameters. The child has no decision log, so a commit over several
        # databases that can prepare is refused here (jobu.db.commit says so).
        databases = DatabaseRegistry(database_specs)
        use_databases(databases)

    ctx = JobContext(**context, report_progress=lambda f, n: conn.send(("progress", f, n)),
                     databases=databases)
    try:
        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
        mark = getattr(target, MARK)
        spec = HandlerSpec(name=mark["name"], target=target, source=module, module=module,
                           qualname=qualname)
        conn.send(("result", spec.invoke(ctx, params)))
    except PermanentError as error:
        conn.send(("error", "permanent", str(error), traceback.format_exc(), 0.0))
    except RetryLater as error:
        conn.send(("error", "retry_later", str(error), traceback.format_exc(),
                   error.delay_seconds))
    except BaseException as error:  # noqa: BLE001 - everything the handler raises is reported
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        conn.send(("error", "error", text, traceback.format_exc(), 0.0))
    finally:
        conn.close()
