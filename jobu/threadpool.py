"""Long-lived runner threads fed from a queue, that survive tasks which never return.

A worker keeps `size` runner threads. Each takes the next task from a shared queue,
runs it and takes the next: no thread is started per task. Work may be queued
beyond the free runners (the worker's prefetch); it starts as runners come free.

Python cannot kill a thread. When a task overruns its deadline, the worker
declares it stuck: a new runner takes its place while the stuck thread runs on,
and that thread leaves the pool when the task ends (or rejoins it, if the pool is
short of runners). So that a handler which hangs on every call cannot make the
worker start threads without end, at most `max_stuck` stuck threads are replaced;
beyond that each one keeps its place. When every place is held by a stuck thread,
the pool is wedged and `wedged()` says so (the worker then stops feeding systemd's
watchdog, and systemd restarts it).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("jobu.worker")

#: Put on the queue to make one runner leave (pool shutdown).
_LEAVE = object()


class Runner:
    """One runner thread, and the task it runs now."""

    def __init__(self, pool: RunnerPool, name: str) -> None:
        self.name = name
        self.task: Any = None
        self.stuck = False
        self._pool = pool
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _loop(self) -> None:
        pool = self._pool
        while True:
            task = pool._queue.get()
            if task is _LEAVE:
                pool._left(self)
                return
            with pool._lock:
                self.task = task
                pool._by_task[id(task)] = self
            try:
                pool._run(task)
            except Exception:  # `run` must not raise; if it does, the runner carries on
                log.exception("%s: a task raised; the runner carries on", self.name)
            finally:
                stay = pool._done(self, task)
            if not stay:
                return


class RunnerPool:
    """`size` runner threads taking tasks from one queue; `run(task)` must not raise."""

    def __init__(self, size: int, run: Callable[[Any], None], *, max_stuck: int | None = None,
                 name: str = "jobu-runner",
                 on_done: Callable[[Any], None] | None = None) -> None:
        if size < 1:
            raise ValueError(f"pool size must be at least 1, got {size}")
        self.size = size
        self.max_stuck = size if max_stuck is None else max_stuck
        self._run = run
        self._on_done = on_done
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._names = (f"{name}-{n}" for n in itertools.count(1))
        self._runners: set[Runner] = set()
        self._stuck: set[Runner] = set()
        self._by_task: dict[int, Runner] = {}
        #: Tasks queued or running on a runner that is not stuck.
        self._load = 0
        self._started = False

    # --- what the worker asks ---------------------------------------------------------

    def capacity(self) -> int:
        """Runners able to take work: `size`, less stuck threads that could not be replaced."""
        with self._lock:
            return self._capacity()

    def _capacity(self) -> int:
        return self.size - max(0, len(self._stuck) - self.max_stuck)

    def load(self) -> int:
        """Tasks queued or running (stuck ones aside)."""
        with self._lock:
            return self._load

    def free_slots(self) -> int:
        """Runners that would start a task at once."""
        with self._lock:
            return max(0, self._capacity() - self._load)

    def counts(self) -> tuple[int, int]:
        """(tasks queued or running that hold a place, stuck threads)."""
        with self._lock:
            return self._load, len(self._stuck)

    def wedged(self) -> bool:
        """True when stuck threads hold every place: nothing can run any more."""
        with self._lock:
            return bool(self._stuck) and self._capacity() <= 0

    # --- what the worker does ---------------------------------------------------------

    def submit(self, task: Any) -> None:
        """Queue `task`; a free runner starts it at once, else the next one to come free."""
        with self._lock:
            if not self._started:
                self._started = True
                for _ in range(self.size):
                    self._spawn()
            self._load += 1
        self._queue.put(task)

    def mark_stuck(self, task: Any) -> bool:
        """`task` overran: a new runner takes the place of its thread, which runs on.

        False if no runner is running `task` (it has not started, or it has ended).
        """
        with self._lock:
            runner = self._by_task.get(id(task))
            if runner is None or runner.stuck or runner.task is not task:
                return False
            runner.stuck = True
            self._stuck.add(runner)
            self._runners.discard(runner)
            self._load -= 1
            if len(self._stuck) <= self.max_stuck:
                self._spawn()
        return True

    def stop(self) -> None:
        """Let every runner leave once the queue is empty (stuck threads run on)."""
        with self._lock:
            count = len(self._runners)
        for _ in range(count):
            self._queue.put(_LEAVE)

    # --- the runners' side ---------------------------------------------------------------

    def _spawn(self) -> None:
        runner = Runner(self, next(self._names))
        self._runners.add(runner)
        runner.thread.start()

    def _done(self, runner: Runner, task: Any) -> bool:
        """A runner finished `task`; False when the runner must leave the pool."""
        with self._lock:
            self._by_task.pop(id(task), None)
            runner.task = None
            stay = True
            if runner.stuck:
                self._stuck.discard(runner)
                runner.stuck = False
                # Rejoin if the pool is short of runners (it was not replaced); else leave.
                stay = len(self._runners) < self._capacity()
                if stay:
                    self._runners.add(runner)
            else:
                self._load -= 1
        if self._on_done is not None:
            self._on_done(task)
        return stay

    def _left(self, runner: Runner) -> None:
        with self._lock:
            self._runners.discard(runner)
