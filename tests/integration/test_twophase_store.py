"""The store's two-phase decision log, the same on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest

from jobu.db import Branch
from jobu.db.decisions import new_txid
from jobu.store import open_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BRANCHES = (Branch("postgres_1", "jobu:0badcafe:x:1"), Branch("mysql_1", "jobu:0badcafe:x:2"))


def test_the_log_id_is_made_by_the_migration_and_stays(store, db_spec):
    log_id = store.decision_log_id()
    assert re.fullmatch(r"[0-9a-f]{8}", log_id)
    other = open_store(db_spec)
    try:
        assert other.decision_log_id() == log_id
    finally:
        other.close()


def test_a_decision_is_recorded_once_and_read_back(store):
    txid = new_txid()
    assert store.decision_get(txid) is None
    decision = store.decision_record(txid, "commit", BRANCHES, now=T0)
    assert (decision.txid, decision.outcome, decision.branches) == (txid, "commit", BRANCHES)
    assert decision.decided_at == T0 and decision.done_at is None
    assert store.decision_get(txid) == decision


@pytest.mark.parametrize(("first", "second"), [("commit", "rollback"), ("rollback", "commit")])
def test_the_first_decision_written_is_the_one_in_force(store, first, second):
    txid = new_txid()
    store.decision_record(txid, first, BRANCHES)
    assert store.decision_record(txid, second, BRANCHES[:1]).outcome == first
    assert store.decision_get(txid).branches == BRANCHES


def test_racing_writers_all_get_the_same_decision(store):
    txid, barrier, seen = new_txid(), threading.Barrier(6), []

    def decide(outcome: str) -> None:
        barrier.wait()
        seen.append(store.decision_record(txid, outcome, BRANCHES).outcome)

    threads = [threading.Thread(target=decide, args=(("commit", "rollback")[i % 2],))
               for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 6 and len(set(seen)) == 1


def test_revoke_turns_only_a_pending_commit_into_a_rollback(store):
    commit, rollback, done = new_txid(), new_txid(), new_txid()
    store.decision_record(commit, "commit", BRANCHES)
    store.decision_record(rollback, "rollback", BRANCHES)
    store.decision_record(done, "commit", BRANCHES)
    store.decision_mark_done(done)
    assert store.decision_revoke(commit) is True
    assert store.decision_get(commit).outcome == "rollback"
    assert store.decision_revoke(commit) is False
    assert store.decision_revoke(rollback) is False
    assert store.decision_revoke(done) is False and store.decision_get(done).outcome == "commit"
    assert store.decision_revoke(new_txid()) is False


def test_pending_decisions_oldest_first_and_done_ones_pruned_after_their_days(store):
    old, newer, done = new_txid(), new_txid(), new_txid()
    store.decision_record(newer, "commit", BRANCHES, now=T0 + timedelta(minutes=1))
    store.decision_record(old, "rollback", BRANCHES, now=T0)
    store.decision_record(done, "commit", BRANCHES, now=T0)
    store.decision_mark_done(done, now=T0)
    store.decision_mark_done(done, now=T0 + timedelta(days=5))  # the first time counts
    assert [d.txid for d in store.decision_list_pending()] == [old, newer]
    assert [d.txid for d in store.decision_list_pending(limit=1)] == [old]
    assert store.decision_get(done).done_at == T0

    assert store.decision_prune(30, now=T0 + timedelta(days=29)) == 0
    assert store.decision_prune(30, now=T0 + timedelta(days=31)) == 1
    assert store.decision_get(done) is None
    assert store.decision_get(old) is not None, "a pending decision is never pruned"


def test_an_outcome_is_commit_or_rollback(store):
    with pytest.raises(ValueError, match="'commit' or 'rollback'"):
        store.decision_record(new_txid(), "maybe", BRANCHES)
