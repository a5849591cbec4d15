"""Ending a transactional block: one commit, or a two-phase commit across databases.

One database that was written to: a plain commit. Several: jobu coordinates a
two-phase commit, so that they all commit or none does.

1. Every participant that can prepare is prepared (PREPARE TRANSACTION, XA
   PREPARE). A failure here rolls every participant back; nothing was changed.
   A participant that cannot prepare first has its deferred constraints
   checked, while a refusal still costs nothing.
2. The decision ``commit`` is written to the decision log in the jobs database,
   in a short transaction of its own. This is the decision point: from here on
   every prepared participant will be committed, by this process or, if it dies,
   by recovery (jobu.db.recovery). If recovery got there first and recorded a
   rollback (the coordinator was slower than recovery's safety age), everything
   is rolled back instead.
3. The one participant that cannot prepare, if any, is committed. It comes after
   the decision because the decision is then the only thing recovery needs to
   know: if this commit is refused, no prepared participant has been committed
   yet, so the coordinator revokes its decision and rolls everything back. Had it
   been committed before the decision, a failure to write the decision would
   leave it committed while recovery rolled the others back. Only a crash or a
   lost connection during this one commit leaves its outcome unknown: the
   irreducible risk of a database that cannot prepare, and why a second one is
   refused unless allow_best_effort_multi_commit is set.
4. Each prepared participant is committed (COMMIT PREPARED, XA COMMIT). One that
   fails stays prepared and recovery commits it; the transaction has committed.
5. The decision is marked done.

Read-only participants wrote nothing and are simply ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jobu.db.decisions import COMMIT, Branch, DecisionLog, branch_gid
from jobu.db.participants import Participant
from jobu.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    MultiCommitRefusedError,
    TransactionError,
)

log = logging.getLogger("jobu.db")


@dataclass
class CommitPlan:
    """What the commit of one transactional block needs besides its participants."""

    decision_log: DecisionLog | None
    allow_best_effort: bool
    #: The block's transaction id and the log's id, made when first needed.
    txid: Callable[[], str]
    log_id: Callable[[], str]


def refusal(one_phase: Sequence[str]) -> MultiCommitRefusedError:
    """The error for a transaction writing to several databases that cannot prepare."""
    names = ", ".join(repr(name) for name in one_phase)
    return MultiCommitRefusedError(
        f"the transaction writes to {names}, none of which can prepare a transaction "
        "(SQLite, or PostgreSQL with max_prepared_transactions = 0), so jobu cannot commit "
        "it on all of them or on none. Give the work to databases that can (PostgreSQL with "
        "prepared transactions, MySQL/MariaDB), split it into one transaction per database, "
        "or accept a commit that may end half-done with database.yaml "
        "allow_best_effort_multi_commit: true")


def finish(participants: Sequence[Participant], plan: CommitPlan) -> None:
    """Commit the participants of a block that ended normally; see the module docstring.

    Raises TransactionError (nothing committed) or MultiCommitRefusedError; after
    the decision point it raises only for a participant that cannot prepare whose
    commit failed. Every participant's connection is given back.
    """
    writers = [p for p in participants if not p.readonly]
    try:
        if len(writers) == 1:
            writers[0].commit_one_phase()
        elif writers:
            _commit_together(writers, plan)
    except BaseException:
        abort(participants)
        raise
    # Read-only participants wrote nothing: ending them is all there is to do.
    abort(participants)


def abort(participants: Sequence[Participant]) -> None:
    """Roll back every participant not finished yet and give back every connection.

    A rollback that fails is logged, not raised: the block's own error is what the
    caller needs to see, and a branch left prepared is recovery's to resolve.
    """
    for participant in participants:
        try:
            participant.rollback()
        except DatabaseError as exc:
            log.warning("database %s: rollback failed (%s); a prepared branch is left to "
                        "`jobu db recover`", participant.name, exc)
        participant.release()


def _commit_together(writers: list[Participant], plan: CommitPlan) -> None:
    two_phase = [p for p in writers if p.can_prepare()]
    one_phase = [p for p in writers if p not in two_phase]
    if len(one_phase) > 1 and not plan.allow_best_effort:
        raise refusal([p.name for p in one_phase])
    for participant in one_phase:
        participant.settle_deferred_constraints()
    if not two_phase:
        try:
            not_committed = _commit_in_turn(one_phase)
        except _RefusedBeforeAnyCommit as refused:
            raise refused.error from refused.cause
        _raise_if_not_atomic(one_phase, not_committed)
        return
    if plan.decision_log is None:
        raise TransactionError("a commit over several databases needs jobu's decision log, "
                               "which this process was not given (jobu.db.use_databases)")
    _prepare(two_phase, plan)
    branches = tuple(Branch(p.name, p.gid or "") for p in two_phase)
    txid = plan.txid()
    try:
        decision = plan.decision_log.decision_record(txid, COMMIT, branches)
    except DatabaseError as exc:
        # The write may have reached the database all the same (a lost answer): revoke it,
        # so that recovery never commits a branch this coordinator is rolling back.
        _revoke(plan.decision_log, txid)
        raise TransactionError(f"the commit decision could not be written to the jobs "
                               f"database ({exc}); rolled back on every database") from exc
    if decision.outcome != COMMIT:
        raise TransactionError(f"transaction {txid} was rolled back by recovery before its "
                               "commit decision was written (the commit took longer than "
                               "recovery's safety age)")
    try:
        not_committed = _commit_in_turn(one_phase)
    except _RefusedBeforeAnyCommit as refused:
        _revoke(plan.decision_log, txid)
        raise refused.error from refused.cause
    # The decision stands whatever happened to a best-effort participant.
    _commit_prepared(two_phase, txid, plan.decision_log)
    _raise_if_not_atomic(writers, not_committed)


def _prepare(two_phase: list[Participant], plan: CommitPlan) -> None:
    for participant in two_phase:
        gid = participant.gid or branch_gid(plan.log_id(), plan.txid(),
                                            participant.branch_number)
        try:
            participant.prepare(gid)
        except DatabaseError as exc:
            raise TransactionError(f"two-phase commit failed at PREPARE ({exc}); rolled back "
                                   "on every database", database=participant.name) from exc


class _RefusedBeforeAnyCommit(Exception):  # noqa: N818 - an internal signal, not an error
    """A one-phase participant refused its commit before anything was committed."""

    def __init__(self, error: TransactionError, cause: BaseException) -> None:
        super().__init__(str(error))
        self.error = error
        self.cause = cause


def _commit_in_turn(one_phase: list[Participant]) -> list[str]:
    """Commit the participants that cannot prepare, one after the other.

    A refusal before any of them committed (and not a lost connection, after which
    the outcome is unknown) raises _RefusedBeforeAnyCommit: everything can still
    roll back. After one has committed, the rest are committed anyway: the best
    effort the operator allowed. Returns {name: why} for each that did not commit.
    """
    committed = False
    not_committed: dict[str, str] = {}
    for participant in one_phase:
        try:
            participant.commit_one_phase()
            committed = True
        except TransactionError as exc:
            unknown = isinstance(exc.__cause__, DatabaseUnavailableError)
            if not committed and not unknown:
                error = TransactionError(f"{exc.message}; rolled back on every database")
                raise _RefusedBeforeAnyCommit(error, exc) from exc
            not_committed[participant.name] = ("outcome unknown: " if unknown else "") + \
                exc.message
    return not_committed


def _raise_if_not_atomic(writers: list[Participant], not_committed: dict[str, str]) -> None:
    if not not_committed:
        return
    committed = [p.name for p in writers if p.name not in not_committed]
    failures = "; ".join(f"{name} ({why})" for name, why in not_committed.items())
    message = f"NOT ATOMIC: committed on {', '.join(committed) or 'none'}, not on {failures}"
    log.error("multi-database commit: %s", message)
    raise TransactionError(message)


def _commit_prepared(two_phase: list[Participant], txid: str, decision_log: DecisionLog) -> None:
    left = []
    for participant in two_phase:
        try:
            participant.commit_prepared()
        except DatabaseError as exc:
            left.append(participant.name)
            log.warning("transaction %s: the commit of its prepared branch on %s failed (%s); "
                        "it stays prepared and `jobu db recover` (or the next worker start) "
                        "commits it", txid, participant.name, exc)
    if left:
        return
    try:
        decision_log.decision_mark_done(txid)
    except DatabaseError as exc:
        log.warning("transaction %s committed, but its decision could not be marked done "
                    "(%s); recovery will", txid, exc)


def _revoke(decision_log: DecisionLog, txid: str) -> None:
    try:
        decision_log.decision_revoke(txid)
    except DatabaseError as exc:
        # Rolling back the prepared branches below still makes the outcome consistent;
        # only a crash before that would leave recovery to commit them.
        log.error("transaction %s: the commit decision could not be revoked (%s)", txid, exc)
