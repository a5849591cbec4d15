"""The store conformance suite: every test runs on SQLite, PostgreSQL and MariaDB.

Time-dependent behaviour (leases, backoff, retention) is driven through the
store's `now` parameters, never by sleeping.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest

from jobu.errors import (
    AlreadyExistsError,
    CronNotFoundError,
    ExecutionNotFoundError,
    InvalidInputError,
    InvalidStateError,
    LeaseLostError,
    SchemaError,
)
from jobu.model import (
    CatchUp,
    CronSpec,
    ExecutionFilter,
    NewExecution,
    ParamSource,
    Status,
    WorkerInfo,
)
from jobu.store import ClaimRequest, TickRecord, open_store
from jobu.store.migrate import load_migrations

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def cron(name="report", **fields) -> CronSpec:
    return CronSpec(name=name, schedule="0 3 * * *", handler_name="noop", **fields)


def claim_one(store, now=T0, lease=30, worker="w1"):
    [execution] = store.execution_claim(worker, ["default"], 1, lease, now=now)
    return execution


def mark_ticked(store, job_id: int, last_tick_at, next_tick_at) -> None:
    """Record a cron's last and next tick as a dispatcher pass does, with no executions."""
    [found] = [c for c in store.cron_list() if c.id == job_id]
    [recorded] = store.cron_record_ticks([TickRecord(
        job_id, found.name, found.version, found.last_tick_at, last_tick_at, next_tick_at)])
    assert recorded is not None


# --- schema --------------------------------------------------------------------------


def test_migrate_is_idempotent_and_check_schema_follows_it(db_spec):
    store = open_store(db_spec)
    try:
        with pytest.raises(SchemaError, match="jobu migrate"):
            store.check_schema()
        every = [m.label for m in load_migrations(store.dialect)]
        assert every[0] == "0001_initial"
        assert [m.label for m in store.pending_migrations()] == every
        assert [m.label for m in store.migrate()] == every
        assert store.migrate() == []
        assert store.pending_migrations() == []
        store.check_schema()
    finally:
        store.close()


# --- crons ---------------------------------------------------------------------------


def test_cron_create_get_list(store):
    created = store.cron_create(cron(handler_params={"to": "ops"}, catch_up=CatchUp.ALL,
                                     timeout_seconds=12.5, priority=3), now=T0)
    assert created.id > 0 and created.version == 1
    assert created.created_at == T0 and created.last_tick_at is None
    fetched = store.cron_get("report")
    assert fetched == created
    assert fetched.handler_params == {"to": "ops"}
    assert fetched.catch_up is CatchUp.ALL and fetched.timeout_seconds == 12.5
    store.cron_create(cron("another", is_enabled=False))
    assert [c.name for c in store.cron_list()] == ["another", "report"]
    assert [c.name for c in store.cron_list(enabled_only=True)] == ["report"]


def test_cron_names_are_unique(store):
    store.cron_create(cron())
    with pytest.raises(AlreadyExistsError, match="report"):
        store.cron_create(cron())
    store.cron_create(cron("other"))
    with pytest.raises(AlreadyExistsError):
        store.cron_update("other", name="report")


def test_cron_update_bumps_version_and_forgets_the_planned_tick(store):
    job = store.cron_create(cron())
    mark_ticked(store, job.id, at(0), at(60))
    updated = store.cron_update("report", schedule="*/5 * * * *", max_retry=2, now=at(5))
    assert updated.version == 2 and updated.schedule == "*/5 * * * *" and updated.max_retry == 2
    assert updated.next_tick_at is None and updated.last_tick_at == at(0)
    assert updated.updated_at == at(5)
    assert store.cron_set_enabled("report", False).is_enabled is False
    with pytest.raises(InvalidInputError, match="no_such_field"):
        store.cron_update("report", no_such_field=1)


def test_cron_not_found_and_delete(store):
    with pytest.raises(CronNotFoundError, match="nope"):
        store.cron_get("nope")
    with pytest.raises(CronNotFoundError):
        store.cron_update("nope", priority=1)
    job = store.cron_create(cron())
    execution_id = store.execution_insert(NewExecution("noop", job_id=job.id, scheduled_time=T0))
    store.cron_delete("report")
    with pytest.raises(CronNotFoundError):
        store.cron_get("report")
    assert store.execution_get(execution_id).job_id is None  # history outlives its cron


def test_enabling_a_disabled_cron_forgets_its_last_tick(store):
    job = store.cron_create(cron())
    mark_ticked(store, job.id, at(0), at(60))
    store.cron_update("report", description="still enabled", now=at(5))
    assert store.cron_get("report").last_tick_at == at(0)
    store.cron_update("report", is_enabled=False, now=at(10))
    assert store.cron_get("report").last_tick_at == at(0)
    enabled = store.cron_update("report", is_enabled=True, now=at(20))
    # Its ticks start again from the moment it was enabled (updated_at).
    assert enabled.last_tick_at is None and enabled.updated_at == at(20)


def test_cron_due_lists_unplanned_crons_first_then_those_whose_tick_came(store):
    ids = {name: store.cron_create(cron(name)).id for name in ("a", "b", "c", "d", "e")}
    mark_ticked(store, ids["a"], at(0), at(60))
    mark_ticked(store, ids["b"], at(0), at(30))
    mark_ticked(store, ids["c"], at(0), at(90))
    store.cron_update("e", is_enabled=False)
    assert [c.name for c in store.cron_due(at(60))] == ["d", "b", "a"]
    assert [c.name for c in store.cron_due(at(60), limit=2)] == ["d", "b"]
    assert [c.name for c in store.cron_due(at(29))] == ["d"]


def test_cron_outlook_counts_and_names_the_first_planned_tick(store):
    empty = store.cron_outlook()
    assert (empty.enabled, empty.unplanned, empty.next_name, empty.next_tick_at) == \
        (0, 0, None, None)
    ids = {name: store.cron_create(cron(name)).id for name in ("a", "b", "c", "off")}
    mark_ticked(store, ids["a"], at(0), at(60))
    mark_ticked(store, ids["b"], at(0), at(30))
    mark_ticked(store, ids["off"], at(0), at(1))
    store.cron_update("off", is_enabled=False)
    outlook = store.cron_outlook()
    assert (outlook.enabled, outlook.unplanned) == (3, 1)
    assert (outlook.next_name, outlook.next_tick_at) == ("b", at(30))


def tick(job, previous, last, next_tick, *executions, disable=False, version=None):
    return TickRecord(job_id=job.id, name=job.name, version=version or job.version,
                      previous_tick_at=previous, last_tick_at=last, next_tick_at=next_tick,
                      executions=tuple(executions), disable=disable)


def tick_row(job, seconds, status=Status.PENDING):
    return NewExecution("noop", job_id=job.id, scheduled_time=at(seconds), status=status,
                        param_source=ParamSource.CRON)


def test_cron_record_ticks_is_a_compare_and_set_on_version_and_last_tick(store):
    job = store.cron_create(cron(), now=T0)
    first = tick(job, None, at(60), at(120), tick_row(job, 60))
    [ids] = store.cron_record_ticks([first], now=at(61))
    assert len(ids) == 1 and ids[0] is not None
    stored = store.cron_get("report")
    assert (stored.last_tick_at, stored.next_tick_at, stored.version) == (at(60), at(120), 1)
    # A second dispatcher that read the cron before: its record changes nothing.
    assert store.cron_record_ticks([first], now=at(61)) == [None]
    # A record made from a version the cron no longer has changes nothing either.
    store.cron_update("report", priority=5)
    stale = tick(job, at(60), at(120), at(180), tick_row(job, 120))
    assert store.cron_record_ticks([stale]) == [None]
    assert len(store.execution_list().items) == 1
    assert store.cron_get("report").next_tick_at is None  # as the update left it
    # A tick that already has its row (recorded before a crash) keeps it.
    current = store.cron_get("report")
    again = tick(current, at(60), at(120), at(180), tick_row(current, 60), tick_row(current, 120))
    [ids] = store.cron_record_ticks([again])
    assert ids[0] is None and ids[1] is not None


def test_cron_record_ticks_records_several_crons_in_one_transaction(store):
    jobs = [store.cron_create(cron(name)) for name in ("b", "a", "c")]
    moved_on = jobs[2]
    mark_ticked(store, moved_on.id, at(0), at(60))
    results = store.cron_record_ticks([
        tick(jobs[0], None, at(60), at(120), tick_row(jobs[0], 60)),
        tick(jobs[1], None, at(60), at(120), tick_row(jobs[1], 60, Status.MISSED)),
        tick(moved_on, None, at(60), at(120), tick_row(moved_on, 60)),
    ], now=at(61))
    assert [None if ids is None else len(ids) for ids in results] == [1, 1, None]
    rows = {e.cron_name: e for e in store.execution_list().items}
    assert set(rows) == {"a", "b"}
    assert rows["a"].status is Status.MISSED and rows["a"].finished_at == at(61)
    assert rows["b"].status is Status.PENDING


def test_cron_record_ticks_can_disable_the_cron(store):
    job = store.cron_create(CronSpec(name="report", schedule="2026-03-01T12:01:00Z",
                                     handler_name="noop"), now=T0)
    [ids] = store.cron_record_ticks([tick(job, None, at(60), None, tick_row(job, 60),
                                          disable=True)], now=at(61))
    assert ids[0] is not None
    stored = store.cron_get("report")
    assert stored.is_enabled is False and stored.version == 2
    assert (stored.last_tick_at, stored.next_tick_at, stored.updated_at) == (at(60), None, at(61))


def test_racing_record_batches_skip_the_crons_that_changed_in_between(store):
    """Two dispatchers planned the same due crons; some crons change before they record.

    Each cron's tick is recorded once, by the first batch that still finds the cron as
    it was planned; a cron edited, moved on, deleted or disabled in between records
    nothing, and a batch's other crons are recorded all the same.
    """
    jobs = [store.cron_create(cron(f"c{n}"), now=T0) for n in range(8)]

    def planned(crons):
        return [tick(job, None, at(60), at(120), tick_row(job, 60)) for job in crons]
    left, right = planned(jobs[:6]), planned(reversed(jobs))
    store.cron_update("c1", priority=3)                 # edited: a new version
    mark_ticked(store, jobs[2].id, at(60), at(120))  # recorded by someone else
    store.cron_delete("c3")
    store.cron_set_enabled("c4", False)                 # disabled: a new version
    done = store.cron_record_ticks(left, now=at(61))
    assert [ids is not None for ids in done] == [True, False, False, False, False, True]
    done = store.cron_record_ticks(right, now=at(62))   # c7, c6, …, c0
    assert [ids is not None for ids in done] == [True, True] + [False] * 6
    rows = store.execution_list(limit=100).items
    assert sorted(e.cron_name for e in rows) == ["c0", "c5", "c6", "c7"]
    assert {e.scheduled_time for e in rows} == {at(60)}
    assert {e.created_at for e in rows if e.cron_name in ("c0", "c5")} == {at(61)}
    assert store.cron_get("c1").last_tick_at is None and store.cron_get("c1").priority == 3
    assert store.cron_get("c4").is_enabled is False


def test_concurrent_record_batches_in_opposite_orders_record_each_tick_once(store, caplog):
    """Batches over the same crons, given in opposite orders, from two threads at once:
    the crons are locked in id order, so neither deadlocks, and each tick has one row."""
    caplog.set_level(logging.DEBUG, logger="jobu.db")
    jobs = [store.cron_create(cron(f"c{n:02d}"), now=T0) for n in range(40)]
    failures: list[BaseException] = []
    won: list[int] = []

    def record(order, barrier, minute):
        try:
            records = [tick(store.cron_get_by_id(job.id), at(60 * (minute - 1)) if minute else None,
                            at(60 * minute), at(60 * (minute + 1)), tick_row(job, 60 * minute))
                       for job in order]
            barrier.wait(timeout=30)
            won.extend(1 for ids in store.cron_record_ticks(records) if ids is not None)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)

    for minute in range(5):
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=record, args=(order, barrier, minute))
                   for order in (jobs, list(reversed(jobs)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not failures, failures
    assert sum(won) == 5 * len(jobs)
    rows = store.execution_list(limit=1000).items
    assert len(rows) == 5 * len(jobs)
    assert len({(e.job_id, e.scheduled_time) for e in rows}) == len(rows)
    # A deadlock would have been retried (Database.run) and gone unseen but for this line.
    assert not [r for r in caplog.records if "transient conflict" in r.getMessage()]


def test_a_record_that_waited_for_a_crons_lock_judges_it_by_its_new_version(store):
    """A cron edited by a transaction that holds its row while a dispatcher records: the
    record waits for the lock, then finds the new version and records nothing for that
    cron, while the batch's other crons are recorded."""
    edited, other = (store.cron_create(cron(name), now=T0) for name in ("edited", "other"))
    records = [tick(job, None, at(60), at(120), tick_row(job, 60)) for job in (edited, other)]
    bump = ("UPDATE cron_jobs SET version = version + 1 WHERE id = "
            + (":id" if store.dialect == "sqlite" else "%(id)s"))
    results: list = []
    with store.database.transaction() as conn:
        conn.execute(bump, {"id": edited.id})
        recorder = threading.Thread(target=lambda: results.append(
            store.cron_record_ticks(records, now=at(61))))
        recorder.start()
        recorder.join(timeout=0.5)
        assert recorder.is_alive(), "the record should wait for the edited cron's lock"
    recorder.join(timeout=30)
    [done] = results
    assert [ids is not None for ids in done] == [False, True]
    assert [e.cron_name for e in store.execution_list().items] == ["other"]
    assert store.cron_get("edited").last_tick_at is None


def test_execution_active_for_crons_gives_the_oldest_unfinished_one(store):
    a, b, c = (store.cron_create(cron(name)) for name in ("a", "b", "c"))
    store.execution_insert(tick_row(a, 0, Status.SKIPPED), now=at(0))
    first = store.execution_insert(tick_row(a, 60), now=at(60))
    store.execution_insert(tick_row(a, 120), now=at(120))
    running = claim_one(store, now=at(61))
    assert running.id == first
    store.execution_insert(tick_row(b, 0, Status.MISSED))
    c_pending = store.execution_insert(tick_row(c, 0))
    active = store.execution_active_for_crons([a.id, b.id, c.id, 9999])
    assert active == {a.id: (first, Status.RUNNING), c.id: (c_pending, Status.PENDING)}
    assert store.execution_active_for_crons([]) == {}


# --- inserting executions ------------------------------------------------------------


def test_one_row_per_cron_tick(store):
    job = store.cron_create(cron())
    first = store.execution_insert(NewExecution("noop", job_id=job.id, scheduled_time=T0,
                                                param_source=ParamSource.CRON))
    assert first is not None
    assert store.execution_insert(NewExecution("noop", job_id=job.id, scheduled_time=T0)) is None
    assert store.execution_insert(NewExecution("noop", job_id=job.id, scheduled_time=at(60)))
    # Executions without a cron never clash on the tick constraint.
    assert store.execution_insert(NewExecution("noop", scheduled_time=T0))
    assert store.execution_insert(NewExecution("noop", scheduled_time=T0))


def test_dedupe_key_is_unique(store):
    first = store.execution_insert(NewExecution("noop", dedupe_key="orders:0:42"))
    assert store.execution_insert(NewExecution("noop", dedupe_key="orders:0:42")) is None
    assert store.execution_get_by_dedupe_key("orders:0:42").id == first
    assert store.execution_get_by_dedupe_key("orders:0:43") is None


def test_insert_fills_defaults_from_the_database_clock(store):
    before = store.database_now()
    execution = store.execution_get(store.execution_insert(NewExecution("noop", {"a": [1, 2]})))
    assert execution.status is Status.PENDING and execution.attempt == 0
    assert execution.params == {"a": [1, 2]}
    assert execution.param_source is ParamSource.MANUAL
    assert abs(execution.scheduled_time - before) < timedelta(seconds=5)
    assert execution.run_after == execution.scheduled_time
    assert execution.finished_at is None


def test_skipped_and_missed_rows_are_finished_when_inserted(store):
    job = store.cron_create(cron())
    skipped = store.execution_insert(NewExecution(
        "noop", job_id=job.id, scheduled_time=T0, status=Status.SKIPPED,
        error_message="previous execution 7 still RUNNING"), now=at(1))
    row = store.execution_get(skipped)
    assert row.status is Status.SKIPPED and row.finished_at == at(1)
    assert row.error_message == "previous execution 7 still RUNNING"
    assert store.execution_claim("w1", ["default"], 10, 30, now=at(2)) == []


def test_insert_many_is_all_or_nothing(store):
    ids = store.execution_insert_many([NewExecution("noop", {"i": i}) for i in range(3)])
    assert len(set(ids)) == 3
    with pytest.raises(InvalidInputError, match="JSON"):
        store.execution_insert_many([NewExecution("noop"), NewExecution("noop", {"x": object()})])
    assert len(store.execution_list(limit=100).items) == 3


@pytest.mark.parametrize("marks", ["when needed", "always"])
def test_a_batch_insert_maps_every_row_to_its_id_across_statements(store, monkeypatch, marks):
    """Multi-row INSERTs give each row its own id, in order, and None to a duplicate.

    On MySQL, both ways of finding the ids: from the statement's block of consecutive ids
    (a batch without duplicates, where the server promises them), and by marking the rows.
    """
    import jobu.store.store as store_module
    if marks == "always":
        if store.dialect != "mysql":
            pytest.skip("only MySQL marks the rows of a batch")
        store._insert_ids_consecutive = False  # as with innodb_autoinc_lock_mode = 2
    monkeypatch.setattr(store_module, "INSERT_BATCH_ROWS", 7)  # many statements, odd edges
    job = store.cron_create(cron())
    taken_tick = store.execution_insert(tick_row(job, 0))
    taken_key = store.execution_insert(NewExecution("noop", dedupe_key="k-0"))
    news, duplicates = [], set()
    for n in range(40):
        if n % 5 == 0:  # a tick: the first one's row exists already; ticks 30.. come twice
            duplicates |= {n} if n == 0 or n >= 30 else set()
            news.append(tick_row(job, 0 if n == 0 else 60 * (n % 30)))
        elif n % 5 == 1:  # a dedupe key per ten rows, each given twice; k-0 exists already
            duplicates |= {n} if n < 10 or n % 10 == 6 else set()
            news.append(NewExecution("noop", {"n": n}, dedupe_key=f"k-{n // 10}"))
        else:  # a plain row never clashes
            news.append(NewExecution("noop", {"n": n}, priority=n))
    ids = store.execution_insert_many(news)
    assert [n for n, i in enumerate(ids) if i is None] == sorted(duplicates)
    inserted = [i for i in ids if i is not None]
    assert len(set(inserted)) == len(inserted) and taken_tick not in inserted
    assert taken_key not in inserted
    for new, execution_id in zip(news, ids, strict=True):
        if execution_id is None:
            continue
        row = store.execution_get(execution_id)
        assert (row.params, row.priority, row.job_id, row.dedupe_key, row.scheduled_time) == \
            (new.params, new.priority, new.job_id, new.dedupe_key,
             new.scheduled_time or row.scheduled_time)
        assert row.lease_token is None and row.status is Status.PENDING
    assert len(store.execution_list(limit=100).items) == 2 + len(inserted)


def test_a_batch_without_duplicates_needs_no_marks_where_ids_are_consecutive(store):
    """MariaDB's default innodb_autoinc_lock_mode (1) gives a multi-row INSERT a block of
    consecutive ids: a batch that inserted every row then costs one statement, not three."""
    if store.dialect != "mysql":
        pytest.skip("MySQL only: the other dialects return their ids")
    unmarked = {name: sql for name, sql in store._q.items()
                if name not in ("execution_insert_marked", "execution_insert_unmark")}
    store._q = unmarked
    ids = store.execution_insert_many([NewExecution("noop", {"n": n}) for n in range(20)])
    assert [store.execution_get(i).params for i in ids] == [{"n": n} for n in range(20)]
    assert ids == list(range(ids[0], ids[0] + 20))


def test_a_batch_insert_splits_by_size_too(store, monkeypatch):
    import jobu.store.store as store_module
    monkeypatch.setattr(store_module, "INSERT_BATCH_CHARS", 2000)
    news = [NewExecution("noop", {"blob": "x" * (100 * (n % 7))}) for n in range(30)]
    ids = store.execution_insert_many(news)
    assert None not in ids and len(set(ids)) == 30
    assert [store.execution_get(i).params for i in ids] == [new.params for new in news]


def test_a_bulk_insert_commits_each_transaction_and_is_not_all_or_nothing(store):
    new = NewExecution("noop")
    batches = list(store.execution_insert_bulk(iter([new] * 10), per_transaction=4))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert len({i for b in batches for i in b}) == 10
    bad = [new] * 5 + [NewExecution("noop", {"x": object()})]
    inserted = []
    with pytest.raises(InvalidInputError, match="JSON"):
        for batch in store.execution_insert_bulk(bad, per_transaction=4):
            inserted += batch
    assert len(inserted) == 4  # the first transaction stays; the second failed whole
    assert len(store.execution_list(limit=100).items) == 14


def test_cron_due_reads_again_only_the_crons_that_changed(store):
    a, b, c, d = (store.cron_create(cron(name), now=T0) for name in ("a", "b", "c", "d"))
    known = {job.id: job for job in store.cron_due(at(60))}
    mark_ticked(store, a.id, at(60), at(120))       # its ticks move: no new version
    store.cron_update("b", priority=9)                   # a new version: read again
    store.cron_delete("c")
    due = store.cron_due(at(200), known=known)
    assert [job.name for job in due] == ["b", "d", "a"]  # unplanned first, then by tick
    assert due[0].priority == 9 and due[0].version == 2
    assert due[1] is known[d.id]                         # as it was: not read again
    assert (due[2].last_tick_at, due[2].next_tick_at) == (at(60), at(120))
    assert due[2].spec == known[a.id].spec
    assert store.cron_due(at(200), known=known) == store.cron_due(at(200))


# --- claiming ------------------------------------------------------------------------


def test_claim_order_priority_then_oldest(store):
    store.execution_insert(NewExecution("a", run_after=at(-30), priority=0))
    store.execution_insert(NewExecution("b", run_after=at(-10), priority=5))
    store.execution_insert(NewExecution("c", run_after=at(-20), priority=5))
    store.execution_insert(NewExecution("d", run_after=at(-40), priority=0))
    claimed = store.execution_claim("w1", ["default"], 3, 30, now=T0)
    assert [e.handler_name for e in claimed] == ["c", "b", "d"]
    rest = store.execution_claim("w1", ["default"], 3, 30, now=T0)
    assert [e.handler_name for e in rest] == ["a"]


def test_claim_sets_worker_attempt_and_lease(store):
    store.execution_insert(NewExecution("noop", run_after=T0))
    execution = claim_one(store, now=T0, lease=30)
    assert execution.status is Status.RUNNING and execution.worker_id == "w1"
    assert execution.attempt == 1 and execution.started_at == T0
    assert execution.lease_expires_at == at(30)
    assert len(execution.lease_token) == 32


def test_claim_respects_run_after_queues_and_limit(store):
    store.execution_insert(NewExecution("later", run_after=at(60)))
    store.execution_insert(NewExecution("other-queue", run_after=T0, queue="reports"))
    for _ in range(3):
        store.execution_insert(NewExecution("now", run_after=T0))
    def claim(queues, limit, now=T0):
        return [e.handler_name for e in store.execution_claim("w1", queues, limit, 30, now=now)]

    assert claim(["default"], 2) == ["now", "now"]
    assert claim(["default"], 5) == ["now"]
    assert claim(["default"], 0) == []
    assert claim(["reports", "x"], 5) == ["other-queue"]
    assert claim(["default"], 5, now=at(60)) == ["later"]


def test_claimed_execution_carries_its_cron_name(store):
    job = store.cron_create(cron())
    store.execution_insert(NewExecution("noop", job_id=job.id, scheduled_time=T0, run_after=T0))
    assert claim_one(store).cron_name == "report"



@pytest.mark.parametrize("clock", ["given", "database"])
def test_claimed_execution_is_the_row_as_stored(store, clock):
    """The claim returns only the columns it did not set; the rest is filled in from what
    it set. The Execution must still be the row as it is stored, field for field, also on a
    retried attempt (error of the last one, cleared progress) and on the database's clock."""
    job = store.cron_create(cron())
    store.execution_insert(NewExecution(
        "noop", job_id=job.id, scheduled_time=at(-5), run_after=at(-5), params={"n": 1},
        max_retry=2, retry_backoff_seconds=3.5, timeout_seconds=9.0, priority=4,
        dedupe_key="k-1"))
    first = claim_one(store, now=at(-4))
    store.execution_progress(first.id, first.lease_token, 0.5, "half", now=at(-3))
    store.execution_retry(first.id, first.lease_token, 0, "boom", now=at(-2))
    now = at(0) if clock == "given" else None
    [claimed] = store.execution_claim("w2", ["default"], 1, 45, now=now)
    assert claimed.attempt == 2 and claimed.error_message == "boom"
    assert claimed == store.execution_get(claimed.id)
    report = store.execution_finish_many([], claim=ClaimRequest("w3", ("default",), 1, 45),
                                         now=now)
    assert report.claimed == []

# --- fencing and outcomes ------------------------------------------------------------


def test_complete_records_result(store):
    store.execution_insert(NewExecution("noop", run_after=T0))
    execution = claim_one(store)
    store.execution_complete(execution.id, execution.lease_token, {"rows": 3}, now=at(2))
    done = store.execution_get(execution.id)
    assert done.status is Status.SUCCESS and done.result == {"rows": 3}
    assert done.finished_at == at(2) and done.duration_seconds == 2


def test_stale_token_changes_nothing(store):
    store.execution_insert(NewExecution("noop", run_after=T0))
    execution = claim_one(store)
    before = store.execution_get(execution.id)
    writes = [
        lambda t: store.execution_complete(execution.id, t, 1),
        lambda t: store.execution_fail(execution.id, t, "late"),
        lambda t: store.execution_retry(execution.id, t, 5, "late"),
        lambda t: store.execution_release(execution.id, t),
        lambda t: store.execution_progress(execution.id, t, 0.5, "late"),
    ]
    for write in writes:
        with pytest.raises(LeaseLostError, match=str(execution.id)):
            write("0" * 32)
    assert store.execution_get(execution.id) == before
    assert store.execution_errors(execution.id) == []


def test_a_rescued_attempt_cannot_write_over_the_next_one(store):
    store.execution_insert(NewExecution("noop", run_after=T0, max_retry=1))
    first = claim_one(store, now=T0, lease=30)
    [rescue] = store.execution_rescue_expired(now=at(31))
    assert rescue.status is Status.RETRY
    second = claim_one(store, now=at(32), worker="w2")
    assert second.attempt == 2 and second.lease_token != first.lease_token
    with pytest.raises(LeaseLostError):
        store.execution_complete(first.id, first.lease_token, "stale result")
    store.execution_complete(second.id, second.lease_token, "fresh result")
    assert store.execution_get(first.id).result == "fresh result"


def test_fail_records_the_attempt_error(store):
    store.execution_insert(NewExecution("noop", run_after=T0))
    execution = claim_one(store)
    store.execution_fail(execution.id, execution.lease_token, "ValueError: bad input",
                         traceback="Traceback ...", status=Status.TIMEOUT, now=at(1))
    failed = store.execution_get(execution.id)
    assert failed.status is Status.TIMEOUT and failed.error_message == "ValueError: bad input"
    [error] = store.execution_errors(execution.id)
    assert (error.attempt, error.status, error.traceback, error.worker_id) == \
        (1, Status.TIMEOUT, "Traceback ...", "w1")
    with pytest.raises(InvalidInputError):
        store.execution_fail(execution.id, execution.lease_token, "x", status=Status.SUCCESS)


def test_retry_waits_out_its_delay_and_counts_attempts(store):
    store.execution_insert(NewExecution("noop", run_after=T0, max_retry=2))
    first = claim_one(store, now=T0)
    store.execution_retry(first.id, first.lease_token, 10, "boom", now=at(1))
    waiting = store.execution_get(first.id)
    assert waiting.status is Status.RETRY and waiting.run_after == at(11)
    assert waiting.attempts_left == 2
    assert store.execution_claim("w1", ["default"], 1, 30, now=at(10)) == []
    second = claim_one(store, now=at(11))
    assert second.attempt == 2 and second.attempts_left == 1
    assert [e.error_message for e in store.execution_errors(first.id)] == ["boom"]


def test_release_hands_back_without_counting_the_attempt(store):
    store.execution_insert(NewExecution("noop", run_after=T0, max_retry=3))
    first = claim_one(store, now=T0)
    store.execution_release(first.id, first.lease_token, now=at(1))
    released = store.execution_get(first.id)
    assert released.status is Status.PENDING and released.attempt == 0
    # It keeps its place in line: its run_after is the one it had.
    assert released.worker_id is None and released.run_after == T0
    second = claim_one(store, now=at(2))
    store.execution_retry(second.id, second.lease_token, 0, "boom", now=at(3))
    third = claim_one(store, now=at(3))
    store.execution_release(third.id, third.lease_token, now=at(4))
    again = store.execution_get(first.id)
    assert again.status is Status.RETRY and again.attempt == 1


def test_progress_is_stored(store):
    store.execution_insert(NewExecution("noop", run_after=T0))
    execution = claim_one(store)
    store.execution_progress(execution.id, execution.lease_token, 0.25, "1 of 4 files")
    stored = store.execution_get(execution.id)
    assert (stored.progress, stored.progress_note) == (0.25, "1 of 4 files")
    with pytest.raises(InvalidInputError):
        store.execution_progress(execution.id, execution.lease_token, 1.5)


def test_result_must_be_json(store):
    store.execution_insert(NewExecution("noop", run_after=T0))
    execution = claim_one(store)
    with pytest.raises(InvalidInputError, match="result"):
        store.execution_complete(execution.id, execution.lease_token, {1, 2})
    assert store.execution_get(execution.id).status is Status.RUNNING


# --- leases, rescue and cancel --------------------------------------------------------


def test_renew_leases_extends_and_reports_lost_and_cancelled(store):
    for _ in range(3):
        store.execution_insert(NewExecution("noop", run_after=T0))
    a, b, c = store.execution_claim("w1", ["default"], 3, 30, now=T0)
    store.execution_request_cancel(b.id)
    renewal = store.execution_renew_leases(
        "w1", {a.id: a.lease_token, b.id: b.lease_token, c.id: "stale-token"}, 30, now=at(20))
    assert renewal.lost == {c.id}
    assert renewal.cancel_requested == {b.id}
    assert store.execution_get(a.id).lease_expires_at == at(50)
    # c was named with a token it does not hold: not renewed, so its lease ran out.
    assert [r.execution_id for r in store.execution_rescue_expired(now=at(45))] == [c.id]


def test_rescue_expired_leases(store):
    store.execution_insert(NewExecution("retryable", run_after=T0, max_retry=1))
    store.execution_insert(NewExecution("last-attempt", run_after=T0, max_retry=0))
    store.execution_insert(NewExecution("cancelled", run_after=T0, max_retry=5))
    store.execution_insert(NewExecution("healthy", run_after=T0))
    claimed = {e.handler_name: e
               for e in store.execution_claim("w1", ["default"], 3, 30, now=T0)}
    healthy = claim_one(store, now=at(20))
    store.execution_request_cancel(claimed["cancelled"].id)
    assert store.execution_rescue_expired(now=at(30)) == []  # not yet expired
    rescued = {r.execution_id: r for r in store.execution_rescue_expired(now=at(31))}
    assert {rescued[claimed[name].id].status for name in claimed} == \
        {Status.RETRY, Status.FAILED, Status.CANCELLED}
    assert rescued[claimed["retryable"].id].status is Status.RETRY
    assert rescued[claimed["last-attempt"].id].status is Status.FAILED
    assert rescued[claimed["cancelled"].id].status is Status.CANCELLED
    failed = store.execution_get(claimed["last-attempt"].id)
    assert failed.error_message == "worker w1 lost (lease expired at 2026-03-01 12:00:30 UTC)"
    assert failed.finished_at == at(31)
    assert store.execution_get(claimed["retryable"].id).finished_at is None
    assert store.execution_get(healthy.id).status is Status.RUNNING
    assert [e.error_message for e in store.execution_errors(claimed["retryable"].id)] == \
        [failed.error_message]


def test_request_cancel(store):
    waiting = store.execution_insert(NewExecution("noop", run_after=at(100)))
    cancelled = store.execution_request_cancel(waiting)
    assert cancelled.status is Status.CANCELLED and cancelled.finished_at is not None
    store.execution_insert(NewExecution("noop", run_after=T0))
    running = claim_one(store)
    asked = store.execution_request_cancel(running.id)
    assert asked.status is Status.RUNNING and asked.cancel_requested
    store.execution_fail(running.id, running.lease_token, "cancelled", status=Status.CANCELLED)
    with pytest.raises(InvalidStateError, match="already finished"):
        store.execution_request_cancel(running.id)
    with pytest.raises(ExecutionNotFoundError):
        store.execution_request_cancel(999999)


def test_requeue_runs_a_finished_execution_again(store):
    store.execution_insert(NewExecution("noop", run_after=T0))
    execution = claim_one(store)
    with pytest.raises(InvalidStateError, match="only a finished one"):
        store.execution_requeue(execution.id)
    store.execution_fail(execution.id, execution.lease_token, "boom")
    again = store.execution_requeue(execution.id, now=at(5))
    assert again.status is Status.PENDING and again.attempt == 0 and again.error_message is None
    assert again.run_after == at(5)
    assert len(store.execution_errors(execution.id)) == 1  # the history of attempts stays
    with pytest.raises(ExecutionNotFoundError):
        store.execution_requeue(999999)


# --- listing, statistics, pruning ------------------------------------------------------


def test_list_filters(store):
    job = store.cron_create(cron())
    store.execution_insert(NewExecution("noop", job_id=job.id, scheduled_time=at(0),
                                        param_source=ParamSource.CRON))
    store.execution_insert(NewExecution("noop", job_id=job.id, scheduled_time=at(60),
                                        param_source=ParamSource.CRON, status=Status.SKIPPED))
    store.execution_insert(NewExecution("mail", scheduled_time=at(120),
                                        param_source=ParamSource.EVENT))
    store.execution_insert(NewExecution("mail", scheduled_time=at(180)))

    def handlers(**where):
        return [(e.handler_name, e.scheduled_time) for e in
                store.execution_list(ExecutionFilter(**where), limit=100).items]

    assert len(handlers()) == 4
    assert handlers(job_id=job.id) == [("noop", at(60)), ("noop", at(0))]
    assert handlers(statuses=(Status.SKIPPED,)) == [("noop", at(60))]
    assert len(handlers(statuses=(Status.SKIPPED, Status.PENDING))) == 4
    assert handlers(handler_name="mail") == [("mail", at(180)), ("mail", at(120))]
    assert handlers(param_source=ParamSource.EVENT) == [("mail", at(120))]
    assert handlers(since=at(60), until=at(180)) == [("mail", at(120)), ("noop", at(60))]
    page = store.execution_list(ExecutionFilter(job_id=job.id), limit=1)
    assert page.items[0].cron_name == "report"


def test_keyset_pagination_visits_every_row_once(store):
    ids = store.execution_insert_many([NewExecution("noop", {"i": i}) for i in range(23)])
    seen, cursor = [], None
    while True:
        page = store.execution_list(limit=5, cursor=cursor)
        seen += [e.id for e in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(ids, reverse=True)


def test_a_crons_pages_states_and_count_hold_its_executions_only(store):
    # SQLite reads a cron's history along its own arm of these queries (queries.sql).
    job = store.cron_create(cron())
    mine = []
    for i in range(23):
        store.execution_insert(NewExecution("noop", {"i": i}))
        mine.append(store.execution_insert(NewExecution(
            "noop", job_id=job.id, scheduled_time=at(i), param_source=ParamSource.CRON)))
    where = ExecutionFilter(job_id=job.id)
    seen, cursor = [], None
    while True:
        page = store.execution_list(where, limit=5, cursor=cursor)
        seen += [e.id for e in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(mine, reverse=True)
    assert store.execution_list_states(where, 100) == [
        (execution_id, Status.PENDING) for execution_id in sorted(mine, reverse=True)]
    assert store.execution_count_states(where, 100) == (23, 23)
    assert store.execution_count_states(ExecutionFilter(), 100) == (46, 46)


def test_cron_stats(store):
    job = store.cron_create(cron())
    durations = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 100]
    for n, seconds in enumerate(durations):
        scheduled = at(n * 1000)
        store.execution_insert(NewExecution("noop", job_id=job.id, scheduled_time=scheduled,
                                            run_after=scheduled))
        execution = claim_one(store, now=scheduled + timedelta(seconds=2))
        outcome = store.execution_complete if n % 5 else store.execution_fail
        args = ({"ok": 1},) if n % 5 else ("boom",)
        outcome(execution.id, execution.lease_token, *args,
                now=scheduled + timedelta(seconds=2 + seconds))
    store.execution_insert(NewExecution("noop", job_id=job.id, scheduled_time=at(-60),
                                        status=Status.MISSED))
    stats = store.cron_stats(job.id)
    assert (stats.total, stats.success, stats.failed, stats.missed) == (21, 16, 4, 1)
    assert stats.avg_duration_seconds == pytest.approx(sum(durations) / 20, abs=1e-3)
    assert stats.p95_duration_seconds == pytest.approx(19, abs=1e-3)  # nearest rank: 19th of 20
    assert stats.avg_start_lateness_seconds == pytest.approx(2, abs=1e-3)
    assert stats.last_status is Status.SUCCESS and stats.last_run_at == at(19 * 1000 + 2)
    empty = store.cron_stats(store.cron_create(cron("empty")).id)
    assert (empty.total, empty.p95_duration_seconds, empty.last_status) == (0, None, None)


def test_prune_by_status_and_age_in_batches(store):
    old, new = at(0), at(40 * 86400)
    for when in (old, old, old, new):
        store.execution_insert(NewExecution("noop", scheduled_time=when, status=Status.MISSED),
                               now=when)
    store.execution_insert(NewExecution("noop", run_after=old), now=old)
    failed = claim_one(store, now=old)
    store.execution_fail(failed.id, failed.lease_token, "boom", now=old)
    now = at(41 * 86400)
    assert store.execution_prune(Status.MISSED, 30, batch_size=2, now=now) == 2
    assert store.execution_prune(Status.MISSED, 30, batch_size=2, now=now) == 1
    assert store.execution_prune(Status.MISSED, 30, batch_size=2, now=now) == 0
    remaining = store.execution_list(limit=100).items
    assert [(e.status, e.scheduled_time) for e in remaining] == \
        [(Status.FAILED, old), (Status.MISSED, new)]
    assert store.execution_prune(Status.FAILED, 30, now=now) == 1
    assert store.execution_errors(failed.id) == []  # the attempt errors go with it


# --- workers -------------------------------------------------------------------------


def test_worker_register_heartbeat_prune(store):
    info = WorkerInfo(id="host-1:42:ab", kind="worker", hostname="host-1", pid=42,
                      pool_size=8, handlers=("noop", "sleep"), queues=("default",),
                      version="0.1.0")
    store.worker_register(info, now=T0)
    store.worker_register(WorkerInfo(id="host-2:7:cd", kind="dispatcher", hostname="host-2",
                                     pid=7), now=T0)
    assert store.worker_heartbeat("host-1:42:ab", running=3, now=at(10))
    [worker] = [w for w in store.worker_list() if w.kind == "worker"]
    assert worker.handlers == ("noop", "sleep") and worker.running == 3
    assert worker.last_heartbeat == at(10) and worker.started_at == T0
    assert store.worker_prune(60, now=at(65)) == 1
    assert [w.id for w in store.worker_list()] == ["host-1:42:ab"]
    store.worker_deregister("host-1:42:ab")
    assert not store.worker_heartbeat("host-1:42:ab", running=0)
