"""SlotPool: bounded slots, stuck threads give up theirs, a wedged pool says so."""

from __future__ import annotations

import threading

import pytest

from jobu.threadpool import SlotPool


def test_slots_are_taken_and_given_back():
    release = threading.Event()
    pool = SlotPool(2)
    tasks = [pool.start(f"t{n}", release.wait) for n in range(2)]
    assert pool.free_slots() == 0
    with pytest.raises(RuntimeError):
        pool.start("one too many", release.wait)
    release.set()
    assert pool.wait_idle(5)
    assert pool.free_slots() == 2 and all(t.done.is_set() for t in tasks)


def test_a_stuck_task_frees_its_slot_up_to_max_stuck_then_the_pool_is_wedged():
    hang = threading.Event()
    pool = SlotPool(1, max_stuck=1)
    first = pool.start("first", hang.wait)
    pool.mark_stuck(first)
    assert pool.free_slots() == 1 and not pool.wedged()  # a replacement may run
    second = pool.start("second", hang.wait)
    pool.mark_stuck(second)
    assert pool.counts() == (0, 2)
    assert pool.free_slots() == 0 and pool.wedged()
    hang.set()
    assert pool.wait_idle(5)
    for task in (first, second):
        assert task.done.wait(5)
    assert pool.free_slots() == 1 and not pool.wedged()


def test_finishing_tasks_call_back():
    finished = []
    pool = SlotPool(1, on_finished=lambda task: finished.append(task.name))
    task = pool.start("quick", lambda: None)
    assert task.done.wait(5)
    assert finished == ["quick"]
