"""Resolving two-phase transactions that a crash left prepared ("in doubt").

A coordinator that dies between PREPARE and the last COMMIT PREPARED leaves
branches prepared: they hold their locks and are neither committed nor rolled
back until someone decides. The worker runs :func:`recover_in_doubt` at start,
and operators run it with ``jobu db recover``. For each database that can
prepare, it lists the prepared transactions whose gid carries this decision
log's id (pg_prepared_xacts; XA RECOVER), and for each one:

* the log records ``commit`` for its transaction: COMMIT PREPARED / XA COMMIT;
* the log records ``rollback``: ROLLBACK PREPARED / XA ROLLBACK;
* the log records nothing: the coordinator died before its decision point, so
  recovery records ``rollback`` — unless the coordinator wrote ``commit`` a
  moment before, in which case that one is in force and is followed — and
  rolls the branch back.

A branch younger than `min_age_seconds` (default 60, by the coordinator's clock
in its gid) is left alone unless its decision is ``rollback``: its coordinator
may still be at work, between its prepares and its decision, or after its
decision revoking it because the one participant that cannot prepare refused
to commit. Correctness does not rest on that age — the decision log's first
writer wins, and a coordinator whose decision loses rolls back — but it keeps
recovery from aborting healthy transactions. MariaDB adds its own guard: a
branch still attached to a live session is invisible to the others.

Finally decisions with no branch left in doubt are marked done, and done ones
older than DECISION_RETENTION_DAYS are deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from jobu.db.database import Database
from jobu.db.decisions import (
    COMMIT,
    ROLLBACK,
    Branch,
    Decision,
    DecisionLog,
    parse_gid,
    txid_age_seconds,
)
from jobu.errors import DatabaseError

log = logging.getLogger("jobu.db.recovery")

#: Seconds a prepared branch without a final decision is left to its coordinator.
DEFAULT_MIN_AGE_SECONDS = 60.0
#: Days a done decision is kept (for operators who ask what happened), then deleted.
DECISION_RETENTION_DAYS = 30


@dataclass(frozen=True)
class Resolution:
    """What recovery did with one prepared branch: committed, rolled back or left."""

    database: str
    gid: str
    action: str
    reason: str


@dataclass
class RecoveryReport:
    """The outcome of one recovery pass."""

    resolved: list[Resolution] = field(default_factory=list)
    #: Branches still in doubt: too young, held by a live session, or a failed resolution.
    left: list[Resolution] = field(default_factory=list)
    #: Databases that could not be asked, with the reason.
    unreachable: dict[str, str] = field(default_factory=dict)
    #: Databases that cannot prepare, so cannot hold a branch.
    not_two_phase: list[str] = field(default_factory=list)
    decisions_done: int = 0
    decisions_pruned: int = 0

    @property
    def complete(self) -> bool:
        """True when nothing is known or feared to be left in doubt."""
        return not self.left and not self.unreachable


def recover_in_doubt(databases: Iterable[Database], decision_log: DecisionLog, *,
                     min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS,
                     now: float | None = None) -> RecoveryReport:
    """Resolve the in-doubt branches on `databases`; see the module docstring.

    Raises DatabaseError only when the decision log (the jobs database) fails;
    a database that fails is reported in `unreachable` and the others go on.
    """
    report = RecoveryReport()
    # Pending decisions are read before the branches are listed: every branch of a
    # decision read now was prepared before the listing, so "no branch listed" then
    # really means "none left".
    pending = decision_log.decision_list_pending()
    prefix = f"jobu:{decision_log.decision_log_id()}:"
    listed = _list_branches(databases, prefix, report)
    by_name = {database.name: database for database in databases}
    settled: set[str] = set()
    for branch in _unique(listed):
        outcome = _resolve(by_name[branch.database], branch, listed, decision_log,
                           min_age_seconds, now, report)
        if outcome is not None:
            settled.add(branch.gid)
            report.resolved.append(outcome)
            log.info("in-doubt transaction %s on %s: %s (%s)", branch.gid, branch.database,
                     outcome.action, outcome.reason)
    in_doubt = {branch.gid for branch in listed} - settled
    reachable = set(by_name) - set(report.unreachable)
    for decision in _with_recorded_now(pending, report, decision_log):
        if _all_settled(decision, reachable, in_doubt):
            decision_log.decision_mark_done(decision.txid)
            report.decisions_done += 1
    report.decisions_pruned = decision_log.decision_prune(DECISION_RETENTION_DAYS)
    return report


def _list_branches(databases: Iterable[Database], prefix: str,
                   report: RecoveryReport) -> list[Branch]:
    listed: list[Branch] = []
    for database in databases:
        if not database.dialect.supports_two_phase:
            report.not_two_phase.append(database.name)
            continue
        try:
            gids = _prepared_gids(database, prefix)
        except DatabaseError as exc:
            report.unreachable[database.name] = str(exc)
            log.warning("in-doubt transactions on %s cannot be listed: %s", database.name, exc)
            continue
        listed += [Branch(database.name, gid) for gid in gids if parse_gid(gid)]
    return listed


def _prepared_gids(database: Database, prefix: str) -> list[str]:
    with database.connection() as conn:
        return conn.call(lambda: database.dialect.tpc_recover(conn.connection, prefix),
                         "list prepared transactions")


def _unique(listed: list[Branch]) -> list[Branch]:
    """One entry per gid: two names for one database (or one MySQL server) list it twice."""
    seen: set[str] = set()
    unique = []
    for branch in listed:
        if branch.gid not in seen:
            seen.add(branch.gid)
            unique.append(branch)
    return unique


def _resolve(database: Database, branch: Branch, listed: list[Branch],
             decision_log: DecisionLog, min_age: float, now: float | None,
             report: RecoveryReport) -> Resolution | None:
    """Commit or roll back one branch; None (and a note in `report.left`) if left."""
    parsed = parse_gid(branch.gid)
    assert parsed is not None  # _list_branches kept only jobu's gids
    txid = parsed[1]
    age = txid_age_seconds(txid, now)
    decision = decision_log.decision_get(txid)
    if (decision is None or decision.outcome == COMMIT) and age < min_age:
        report.left.append(Resolution(branch.database, branch.gid, "left",
                                      f"{age:.0f} s old, younger than {min_age:g} s: its "
                                      "coordinator may still be at work"))
        return None
    if decision is None:
        siblings = tuple(b for b in listed if parse_gid(b.gid) == parsed)
        decision = decision_log.decision_record(txid, ROLLBACK, siblings)
    commit = decision.outcome == COMMIT
    why = "the coordinator decided to commit" if commit else \
        "no commit was decided before the coordinator stopped"
    try:
        with database.connection() as conn:
            found = conn.call(lambda: database.dialect.tpc_finish(
                conn.connection, branch.gid, commit=commit, own_session=False),
                "COMMIT PREPARED" if commit else "ROLLBACK PREPARED")
    except DatabaseError as exc:
        report.left.append(Resolution(branch.database, branch.gid, "left", f"failed: {exc}"))
        return None
    if not found:
        report.left.append(Resolution(branch.database, branch.gid, "left",
                                      "no longer prepared, or still held by a live session"))
        return None
    return Resolution(branch.database, branch.gid, "committed" if commit else "rolled back", why)


def _with_recorded_now(pending: list[Decision], report: RecoveryReport,
                       decision_log: DecisionLog) -> list[Decision]:
    """`pending`, and the decisions of the branches this pass rolled back (it may have
    written them), each once."""
    known = {decision.txid for decision in pending}
    added = []
    for resolution in report.resolved:
        parsed = parse_gid(resolution.gid)
        if resolution.action != "rolled back" or parsed is None or parsed[1] in known:
            continue
        known.add(parsed[1])
        decision = decision_log.decision_get(parsed[1])
        if decision is not None and decision.done_at is None:
            added.append(decision)
    return pending + added


def _all_settled(decision: Decision, reachable: set[str], in_doubt: set[str]) -> bool:
    """True when every branch is on a database recovery could ask, and none is in doubt."""
    return all(b.database in reachable and b.gid not in in_doubt for b in decision.branches)
