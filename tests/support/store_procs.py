"""Work that the concurrency tests run in child processes (spawned, so importable by name).

Each function waits on a shared barrier so that every process starts its work at
the same moment, then reports what it did through a queue.
"""

from __future__ import annotations

import threading

from jobu.model import DatabaseSpec, NewExecution
from jobu.store import open_store


def claim_until_empty(spec: DatabaseSpec, worker_id: str, threads: int, batch: int,
                      barrier, results) -> None:
    """Claim and complete executions from `threads` threads until none are left."""
    store = open_store(spec)
    claimed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            while True:
                got = store.execution_claim(worker_id, ["default"], batch, 60)
                if not got:
                    return
                for execution in got:
                    store.execution_complete(execution.id, execution.lease_token, worker_id)
                with lock:
                    claimed.extend(e.id for e in got)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails
            errors.append(exc)

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    barrier.wait()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    store.close()
    results.put((worker_id, claimed, [repr(e) for e in errors]))


def insert_ticks(spec: DatabaseSpec, job_id: int, ticks: list, barrier, results) -> None:
    """Insert one execution for each tick of a cron; report how many were new."""
    store = open_store(spec)
    barrier.wait()
    inserted = 0
    for tick in ticks:
        if store.execution_insert(NewExecution("noop", job_id=job_id, scheduled_time=tick)):
            inserted += 1
    store.close()
    results.put(inserted)


def run_migrate(spec: DatabaseSpec, barrier, results) -> None:
    store = open_store(spec)
    barrier.wait()
    try:
        results.put(("ok", [m.version for m in store.migrate()]))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails
        results.put(("error", repr(exc)))
    finally:
        store.close()
