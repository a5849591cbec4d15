"""RunnerPool: long-lived runners, stuck threads replaced up to max_stuck, a wedged pool says so."""

from __future__ import annotations

import threading

import pytest

from jobu.threadpool import RunnerPool
from tests.servers import wait_until


class Task:
    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.thread: str | None = None
        self.done = threading.Event()


def run(task: Task) -> None:
    task.thread = threading.current_thread().name
    if task.gate is not None:
        task.gate.wait(10)
    task.done.set()


def test_runners_are_long_lived_threads_that_take_queued_tasks():
    pool = RunnerPool(2, run)
    tasks = [Task() for _ in range(50)]
    for task in tasks:
        pool.submit(task)
    wait_until(lambda: pool.load() == 0, 5, message="the pool idle")
    assert all(t.done.is_set() for t in tasks)
    assert {t.thread for t in tasks} <= {"jobu-runner-1", "jobu-runner-2"}, \
        "no thread per task: two runners ran all fifty"
    assert pool.free_slots() == 2
    pool.stop()


def test_work_queued_beyond_the_runners_waits_its_turn():
    gate = threading.Event()
    pool = RunnerPool(1, run)
    first, second = Task(gate), Task(gate)
    pool.submit(first)
    pool.submit(second)
    assert pool.load() == 2 and pool.free_slots() == 0
    gate.set()
    wait_until(lambda: pool.load() == 0, 5, message="the pool idle")
    assert second.done.is_set()
    pool.stop()


def test_a_stuck_task_is_replaced_up_to_max_stuck_then_the_pool_is_wedged():
    hang = threading.Event()
    pool = RunnerPool(1, run, max_stuck=1)
    first = Task(hang)
    pool.submit(first)
    wait_until(lambda: first.thread is not None, message="the first task runs")
    assert pool.mark_stuck(first)
    assert pool.free_slots() == 1 and not pool.wedged(), "a replacement runs"
    second = Task(hang)
    pool.submit(second)
    wait_until(lambda: second.thread is not None, message="the second task runs")
    assert second.thread != first.thread
    assert pool.mark_stuck(second)
    assert pool.counts() == (0, 2)
    assert pool.capacity() == 0 and pool.wedged()
    hang.set()
    assert first.done.wait(5) and second.done.wait(5)
    wait_until(lambda: pool.counts() == (0, 0), message="the stuck threads back")
    assert pool.capacity() == 1 and not pool.wedged()
    third = Task()
    pool.submit(third)
    assert third.done.wait(5), "the pool works again"
    pool.stop()


def test_a_task_that_is_not_running_cannot_be_marked_stuck():
    pool = RunnerPool(1, run)
    task = Task()
    pool.submit(task)
    assert task.done.wait(5)
    wait_until(lambda: pool.load() == 0, message="the task counted done")
    assert not pool.mark_stuck(task)
    pool.stop()


def test_the_pool_needs_a_runner():
    with pytest.raises(ValueError):
        RunnerPool(0, run)
