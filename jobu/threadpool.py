"""A bounded set of threads, one per task, that survives tasks which never return.

Python cannot kill a thread. When a task overruns its deadline, the worker
declares it stuck: its slot is freed for another task while the thread runs on,
and its result is discarded when it ends. So that a handler which hangs on every
call cannot make the worker start threads without end, at most `max_stuck` stuck
threads are tolerated; beyond that each one holds its slot again. When every slot
is taken by a stuck thread, the pool is wedged and `wedged()` says so (the worker
then stops feeding systemd's watchdog, and systemd restarts it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Task:
    """One task's thread and its state in the pool."""

    def __init__(self, pool: SlotPool, name: str, work: Callable[[], None]) -> None:
        self.name = name
        self.stuck = False
        self._pool = pool
        self._work = work
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            self._work()
        finally:
            self._pool._finished(self)


class SlotPool:
    """Runs at most `size` tasks at once, each on a thread of its own."""

    def __init__(self, size: int, *, max_stuck: int | None = None,
                 on_finished: Callable[[Task], None] | None = None) -> None:
        if size < 1:
            raise ValueError(f"pool size must be at least 1, got {size}")
        self.size = size
        self.max_stuck = size if max_stuck is None else max_stuck
        self._on_finished = on_finished
        self._running: set[Task] = set()
        self._stuck: set[Task] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def free_slots(self) -> int:
        with self._lock:
            return self._free()

    def _free(self) -> int:
        overflow = max(0, len(self._stuck) - self.max_stuck)
        return max(0, self.size - len(self._running) - overflow)

    def counts(self) -> tuple[int, int]:
        """(running tasks that hold a slot, stuck tasks)."""
        with self._lock:
            return len(self._running), len(self._stuck)

    def wedged(self) -> bool:
        """True when stuck threads hold every slot: nothing can run any more."""
        with self._lock:
            return bool(self._stuck) and self._free() == 0 and not self._running

    def start(self, name: str, work: Callable[[], None]) -> Task:
        """Run `work` on a new thread; the caller checked free_slots() first."""
        task = Task(self, name, work)
        with self._lock:
            if self._free() <= 0:
                raise RuntimeError("no free slot in the pool")
            self._running.add(task)
        task.thread.start()
        return task

    def mark_stuck(self, task: Task) -> None:
        """The task overran: free its slot; its thread runs on until it returns."""
        with self._lock:
            if task in self._running:
                self._running.discard(task)
                self._stuck.add(task)
                task.stuck = True

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no task holds a slot (stuck ones aside); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout)

    def _finished(self, task: Task) -> None:
        with self._lock:
            self._running.discard(task)
            self._stuck.discard(task)
            self._idle.notify_all()
        task.done.set()
        if self._on_finished is not None:
            self._on_finished(task)
