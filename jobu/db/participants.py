"""One database's part in a transactional block: a lent connection and its branch.

A :class:`Participant` begins a transaction when it is made and is finished by
the commit protocol (jobu.db.commit) in one of these ways: a plain commit, a
prepare then a second-phase commit, or a rollback from whatever state it
reached. `release()` always gives the connection back, rolled back if needed.
"""

from __future__ import annotations

from typing import Any

from jobu.db.database import Connection, Database
from jobu.errors import DatabaseError, TransactionError


class Participant:
    """A database taking part in this thread's transactional block."""

    def __init__(self, database: Database, *, readonly: bool, branch_number: int) -> None:
        self.database = database
        self.readonly = readonly
        #: Its place in the block (from 1): the last part of its gid.
        self.branch_number = branch_number
        #: The branch's gid once it is two-phase (begun as XA, or prepared).
        self.gid: str | None = None
        self.two_phase_begun = False
        self.prepared = False
        self.finished = False
        self.released = False
        self.connection: Connection = database.begin(write=not readonly, readonly=readonly,
                                                     named_params=True)

    @property
    def name(self) -> str:
        return self.database.name

    @property
    def dialect(self) -> Any:
        return self.database.dialect

    def __repr__(self) -> str:
        return f"<Participant {self.name}{' readonly' if self.readonly else ''}>"

    def can_prepare(self) -> bool:
        """True if this branch can be prepared: a two-phase database, begun as one
        where the dialect needs it (MySQL's XA START comes before any statement)."""
        if not self.database.two_phase_capability()[0]:
            return False
        return self.two_phase_begun or not self.dialect.tpc_begin_required

    def begin_two_phase(self, gid: str) -> None:
        """Start the branch as two-phase (XA START), before its first statement."""
        self._call(lambda raw: self.dialect.tpc_begin(raw, gid), "XA START")
        self.gid = gid
        self.two_phase_begun = True

    def settle_deferred_constraints(self) -> None:
        self._call(self.dialect.settle_deferred_constraints, "SET CONSTRAINTS ALL IMMEDIATE")

    def prepare(self, gid: str) -> None:
        """Phase one: the database promises it can commit (PREPARE TRANSACTION, XA PREPARE)."""
        self.gid = gid
        self._call(lambda raw: self.dialect.tpc_prepare(raw, gid), "PREPARE")
        self.prepared = True

    def commit_one_phase(self) -> None:
        """Commit as a plain transaction; TransactionError when the database refuses."""
        try:
            if self.two_phase_begun:
                self._call(lambda raw: self.dialect.tpc_commit_one_phase(raw, self.gid), "COMMIT")
            else:
                self._call(self.dialect.commit, "COMMIT")
        except DatabaseError as exc:
            # Not finished: some databases keep the transaction open after a refused COMMIT
            # (SQLite, for a deferred foreign key), so the rollback that follows still runs.
            raise TransactionError(f"commit failed: {exc}", database=self.name,
                                   transient=exc.transient) from exc
        self.finished = True

    def commit_prepared(self) -> None:
        """Phase two; TransactionError when the prepared transaction is not there any more."""
        found = self._call(lambda raw: self.dialect.tpc_finish(
            raw, self.gid, commit=True, own_session=True), "COMMIT PREPARED")
        self.finished = True
        if not found:
            raise TransactionError(f"prepared transaction {self.gid} was gone before its "
                                   "commit (resolved by `jobu db recover`?)", database=self.name)

    def rollback(self) -> None:
        """Undo the branch, prepared or not; errors propagate (the caller reports them)."""
        if self.finished:
            return
        self.finished = True
        if self.prepared:
            self._call(lambda raw: self.dialect.tpc_finish(
                raw, self.gid, commit=False, own_session=True), "ROLLBACK PREPARED")
        elif self.two_phase_begun:
            self._call(lambda raw: self.dialect.tpc_rollback_unprepared(raw, self.gid),
                       "XA ROLLBACK")
        else:
            self._call(self.dialect.rollback, "ROLLBACK")

    def release(self) -> None:
        """Give the connection back to the pool; a branch left half-way is rolled back,
        and a connection that could not be rolled back is closed. Once only."""
        if not self.released:
            self.released = True
            self.database.give_back(self.connection, reset=not self.finished)

    def _call(self, action: Any, statement: str) -> Any:
        raw = self.connection.connection
        return self.connection.call(lambda: action(raw), statement)
