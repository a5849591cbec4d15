"""The worker's side of the store: group-committed outcomes, held leases, rescue order.

Every test runs on SQLite, PostgreSQL and MariaDB, with time driven through `now`.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from jobu.errors import InvalidInputError, LeaseLostError
from jobu.model import NewExecution, OutcomeKind, Status
from jobu.store import ClaimRequest, FinishedAttempt
from jobu.store.listener import EXECUTIONS_CHANNEL, Listener
from tests.servers import wait_until

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def enqueue(store, count=1, **fields):
    fields.setdefault("run_after", T0)
    return [store.execution_insert(NewExecution("noop", **fields)) for _ in range(count)]


def claim(store, limit=1, now=T0, worker="w1", queues=("default",), lease=30):
    return store.execution_claim(worker, list(queues), limit, lease, now=now)


def success(execution, result=None):
    return FinishedAttempt(execution.id, execution.lease_token, OutcomeKind.SUCCESS,
                           Status.SUCCESS, result=result)


# --- execution_finish_many -----------------------------------------------------------


def test_a_result_already_encoded_is_stored_as_it_is(store):
    enqueue(store, 2)
    given, encoded = claim(store, 2)
    store.execution_finish_many([
        success(given, {"b": 1, "a": [2]}),
        FinishedAttempt(encoded.id, encoded.lease_token, OutcomeKind.SUCCESS, Status.SUCCESS,
                        result={"ignored": True}, result_json='{"b": 1, "a": [2]}'),
    ], now=at(1))
    assert store.execution_get(given.id).result == store.execution_get(encoded.id).result \
        == {"b": 1, "a": [2]}


def test_a_mixed_batch_is_written_in_one_call(store):
    enqueue(store, 5, max_retry=2)
    enqueue(store, 2)
    ok, retried, failed, released, stale, done = claim(store, 6)
    store.execution_complete(done.id, done.lease_token, "first", now=at(1))
    report = store.execution_finish_many([
        success(ok, {"rows": 3}),
        FinishedAttempt(retried.id, retried.lease_token, OutcomeKind.RETRY, Status.TIMEOUT,
                        error_message="timed out after 1s", traceback="Trace R",
                        delay_seconds=10),
        FinishedAttempt(failed.id, failed.lease_token, OutcomeKind.FAIL, Status.FAILED,
                        error_message="ValueError: bad", traceback="Trace F"),
        FinishedAttempt(released.id, released.lease_token, OutcomeKind.RELEASE, Status.PENDING),
        success(dataclasses.replace(stale, lease_token="0" * 32), "stale"),
        success(done, "again"),
    ], now=at(2))
    assert report.written == {ok.id, retried.id, failed.id, released.id}
    assert report.already_written == {done.id}
    assert report.lost == {stale.id}
    assert report.claimed == []

    row = store.execution_get(ok.id)
    assert (row.status, row.result, row.finished_at) == (Status.SUCCESS, {"rows": 3}, at(2))
    assert row.lease_expires_at is None
    row = store.execution_get(retried.id)
    assert (row.status, row.run_after, row.error_message, row.finished_at) == \
        (Status.RETRY, at(12), "timed out after 1s", None)
    row = store.execution_get(failed.id)
    assert (row.status, row.error_message, row.finished_at) == \
        (Status.FAILED, "ValueError: bad", at(2))
    row = store.execution_get(released.id)
    assert (row.status, row.attempt, row.worker_id) == (Status.PENDING, 0, None)
    assert store.execution_get(stale.id).status is Status.RUNNING
    assert store.execution_get(done.id).result == "first"  # the repeat changed nothing

    [error] = store.execution_errors(retried.id)
    assert (error.attempt, error.status, error.error_message, error.traceback,
            error.worker_id, error.occurred_at) == \
        (1, Status.TIMEOUT, "timed out after 1s", "Trace R", "w1", at(2))
    [error] = store.execution_errors(failed.id)
    assert (error.status, error.error_message, error.traceback) == \
        (Status.FAILED, "ValueError: bad", "Trace F")
    for quiet in (ok, released, stale, done):
        assert store.execution_errors(quiet.id) == []


def test_a_repeated_batch_reads_as_already_written(store):
    enqueue(store, 3)
    a, b, c = claim(store, 3)
    batch = [success(a, 1), FinishedAttempt(b.id, b.lease_token, OutcomeKind.FAIL,
                                            Status.TIMEOUT, error_message="late"),
             FinishedAttempt(c.id, c.lease_token, OutcomeKind.RELEASE, Status.PENDING)]
    first = store.execution_finish_many(batch, now=at(1))
    assert first.written == {a.id, b.id, c.id}
    # The commit landed but the worker never heard: it writes the same batch again.
    again = store.execution_finish_many(batch, now=at(2))
    assert (again.written, again.already_written, again.lost) == (set(), {a.id, b.id, c.id},
                                                                   set())
    assert len(store.execution_errors(b.id)) == 1


def test_each_row_gets_its_own_result(store):
    results = [None, 0, -1.5, "plain", 'quote " and \\ backslash', "naïve ☃ 😀 \n\t",
               {"nested": {"list": [1, "two", None, True]}}, ["a", {"b": "c"}], "", "null",
               "\u0000 nul", {"x" * 200: "y" * 5000}]
    enqueue(store, len(results))
    claimed = claim(store, len(results))
    report = store.execution_finish_many(
        [success(e, r) for e, r in zip(claimed, results, strict=True)], now=at(1))
    assert report.written == {e.id for e in claimed}
    for execution, result in zip(claimed, results, strict=True):
        assert store.execution_get(execution.id).result == result


def test_a_batch_and_a_claim_in_one_call(store):
    enqueue(store, 2)
    first, second = claim(store, 2)
    enqueue(store, 3, priority=1)
    enqueue(store, 1, queue="reports")
    report = store.execution_finish_many(
        [success(first, "a"), success(second, "b")],
        claim=ClaimRequest("w2", ("default", "reports"), 3, 60), now=at(5))
    assert report.written == {first.id, second.id}
    assert [e.priority for e in report.claimed] == [1, 1, 1]
    assert all(e.status is Status.RUNNING and e.worker_id == "w2" for e in report.claimed)
    assert {e.lease_expires_at for e in report.claimed} == {at(65)}
    assert len({e.lease_token for e in report.claimed}) == 1
    # A claim alone, and a claim that can take nothing.
    only = store.execution_finish_many([], claim=ClaimRequest("w2", ["reports"], 5, 60),
                                       now=at(6))
    assert [e.queue for e in only.claimed] == ["reports"]
    assert store.execution_finish_many([], claim=ClaimRequest("w2", ["default"], 0, 60)) \
        .claimed == []


def test_a_release_in_a_batch_can_be_claimed_by_the_claim_after_it(store):
    enqueue(store, 1)
    [execution] = claim(store)
    report = store.execution_finish_many(
        [FinishedAttempt(execution.id, execution.lease_token, OutcomeKind.RELEASE,
                         Status.PENDING)],
        claim=ClaimRequest("w2", ["default"], 1, 30), now=at(1))
    assert report.written == {execution.id}
    assert [(e.id, e.attempt, e.worker_id) for e in report.claimed] == [(execution.id, 1, "w2")]


def test_a_rescued_attempt_reads_as_lost_not_as_written(store):
    enqueue(store, 1, max_retry=1)
    [first] = claim(store, now=T0, lease=30)
    [rescue] = store.execution_rescue_expired(now=at(31))
    assert rescue.status is Status.RETRY
    report = store.execution_finish_many([success(first, "late")], now=at(32))
    assert (report.written, report.already_written, report.lost) == (set(), set(), {first.id})
    with pytest.raises(LeaseLostError):
        store.execution_complete(first.id, first.lease_token, "late", now=at(32))
    assert store.execution_get(first.id).status is Status.RETRY


def test_a_bad_batch_writes_nothing(store):
    enqueue(store, 2)
    a, b = claim(store, 2)
    bad = [
        [success(a, 1), success(a, 2)],  # the same execution twice
        [success(a, 1), success(b, {1, 2})],  # a result that is not JSON
        [success(a, 1), FinishedAttempt(b.id, b.lease_token, OutcomeKind.FAIL, Status.SUCCESS)],
        [FinishedAttempt(a.id, a.lease_token, OutcomeKind.SUCCESS, Status.FAILED)],
        [FinishedAttempt(a.id, a.lease_token, "success", Status.SUCCESS)],
    ]
    for batch in bad:
        with pytest.raises(InvalidInputError):
            store.execution_finish_many(batch, claim=ClaimRequest("w1", ["default"], 1, 30))
    assert {store.execution_get(e.id).status for e in (a, b)} == {Status.RUNNING}


def test_release_and_retry_notify_the_executions_channel(store, monkeypatch):
    if store.dialect != "postgres":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    enqueue(store, 4, max_retry=1)
    a, b, c, d = claim(store, 4)
    sent = []
    notify = store._notify
    monkeypatch.setattr(store, "_notify", lambda conn, channel, payload: (
        sent.append(channel), notify(conn, channel, payload)))
    heard = []
    listener = Listener(store.database.spec, [EXECUTIONS_CHANNEL],
                        lambda channel, payload: heard.append(channel)).start()
    try:
        wait_until(listener.listening.is_set, message="the listener to LISTEN")
        store.execution_finish_many([success(a)])
        store.execution_finish_many([FinishedAttempt(b.id, b.lease_token, OutcomeKind.RETRY,
                                                     Status.FAILED, error_message="x",
                                                     delay_seconds=30)])
        assert sent == []  # nothing became runnable now
        store.execution_finish_many([FinishedAttempt(c.id, c.lease_token, OutcomeKind.RETRY,
                                                     Status.FAILED, error_message="x")])
        assert sent == [EXECUTIONS_CHANNEL]
        store.execution_release(d.id, d.lease_token)
        assert sent == [EXECUTIONS_CHANNEL] * 2
        # Other tests share the server and its channels: only "at least" can be checked.
        wait_until(lambda: len(heard) >= 2, message="the notifications")
    finally:
        listener.stop()


# --- leases ----------------------------------------------------------------------------


def test_a_lease_not_named_in_held_is_not_renewed_and_expires(store):
    enqueue(store, 2)
    held, unknown = claim(store, 2, now=T0, lease=30)
    # `unknown` was claimed for w1, but w1 never learnt it (its commit's answer was lost).
    renewal = store.execution_renew_leases("w1", {held.id: held.lease_token}, 30, now=at(20))
    assert (renewal.lost, renewal.cancel_requested) == (set(), set())
    assert store.execution_get(held.id).lease_expires_at == at(50)
    assert store.execution_get(unknown.id).lease_expires_at == at(30)
    [rescue] = store.execution_rescue_expired(now=at(31))
    assert rescue.execution_id == unknown.id
    assert store.execution_get(unknown.id).status is Status.FAILED  # no retries left
    assert store.execution_get(held.id).status is Status.RUNNING


def test_renewing_nothing_touches_nothing(store):
    enqueue(store, 1)
    [execution] = claim(store, now=T0, lease=30)
    assert store.execution_renew_leases("w1", {}, 30, now=at(20)).lost == set()
    assert store.execution_get(execution.id).lease_expires_at == at(30)


def test_renewing_under_another_id_renews_nothing(store):
    enqueue(store, 1)
    [execution] = claim(store, now=T0, lease=30, worker="w1")
    renewal = store.execution_renew_leases("w2", {execution.id: execution.lease_token}, 30,
                                           now=at(20))
    assert renewal.lost == {execution.id}
    assert store.execution_get(execution.id).lease_expires_at == at(30)


# --- rescue and claim order ------------------------------------------------------------


def test_a_rescued_execution_keeps_its_place_in_line(store):
    [orphan] = enqueue(store, 1, max_retry=1, run_after=T0)
    claim(store, now=at(1), lease=30)
    # A backlog queued after the orphan, all due before it is rescued.
    for n in range(5):
        store.execution_insert(NewExecution("noop", run_after=at(2 + n)))
    [rescue] = store.execution_rescue_expired(now=at(40))
    assert rescue.execution_id == orphan and rescue.status is Status.RETRY
    assert store.execution_get(orphan).run_after == T0
    [first] = claim(store, now=at(41), worker="w2")
    assert (first.id, first.attempt) == (orphan, 2)


def test_a_claim_over_several_queues_keeps_the_order_across_them(store):
    enqueue(store, 1, queue="a", run_after=at(3))
    enqueue(store, 1, queue="b", run_after=at(1))
    enqueue(store, 1, queue="c", run_after=at(0), priority=2)
    enqueue(store, 1, queue="a", run_after=at(2))
    enqueue(store, 1, queue="b", run_after=at(4), priority=1)
    enqueue(store, 1, queue="z", run_after=at(0), priority=9)
    taken = claim(store, 4, now=at(10), queues=["a", "b", "c", "b"])
    assert [(e.queue, e.priority, e.run_after) for e in taken] == [
        ("c", 2, at(0)), ("b", 1, at(4)), ("b", 0, at(1)), ("a", 0, at(2))]
    [last] = claim(store, 4, now=at(10), queues=["a", "b", "c"])
    assert (last.queue, last.run_after) == ("a", at(3))
    assert claim(store, 4, now=at(10), queues=[]) == []
