"""Handlers' transactions: ``transactional``, ``transactional_readonly``, ``get_connection``.

::

    from jobu.db import get_connection, transactional

    @transactional("postgres_1", "mysql_1")
    def move_order(order_id):
        row = get_connection("postgres_1").fetch_one(
            "SELECT * FROM orders WHERE id = :id", {"id": order_id})
        get_connection("mysql_1").execute(
            "INSERT INTO archive (id, total) VALUES (:id, :total)", row)

    with transactional("sqlite_2") as conn:
        conn.execute("UPDATE counters SET n = n + 1 WHERE name = :name", {"name": "runs"})

Rules, for every thread separately:

* A block (the decorated call, or the ``with``) opens a transaction on each
  database it names, with a pooled connection; ``get_connection(name)`` returns
  that connection anywhere below it on the same thread. ``with`` gives the
  connection of the one database named, or a tuple of them in the order named.
* When the outermost block ends normally, every database is committed — on
  several databases atomically, by two-phase commit (jobu.db.commit). When it
  ends with an exception, every one is rolled back and the exception goes on.
* A block inside another joins it: it commits nothing itself, and a database it
  names that the outer block did not is opened in the outer transaction and
  committed with it. An exception that leaves an inner block dooms the whole
  transaction: if the outer code catches it and ends normally, everything is
  rolled back and TransactionError says why — half of a failed step is never
  committed.
* ``transactional_readonly`` asks the servers to refuse writes (PostgreSQL,
  MySQL; SQLite through ``query_only``), and needs no two-phase commit. It may
  sit inside a writing block (it joins it); a writing block inside a read-only
  one, on the same database, is refused.
* Threads a handler starts have no transaction until they open one: a
  connection belongs to one thread.
* Parameters are ``:name`` on every database (jobu.db.paramstyle).

Names are looked up in the databases this process was given (the worker gives
its handlers those of worker.yaml ``databases:``); a :class:`Database` may be
passed instead of a name (``ctx.db("postgres_1")`` is the same object).

MySQL/MariaDB: a block that names two or more writable databases starts its
MySQL branches as XA transactions, which refuse DDL (CREATE TABLE …): create
tables in a block of their own. A MySQL database added later by an inner block
to a transaction already under way cannot be prepared; name every database in
the outermost block.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from jobu.db.commit import CommitPlan, abort, finish, refusal
from jobu.db.database import Connection, Database
from jobu.db.decisions import DecisionLog, branch_gid, new_txid
from jobu.db.participants import Participant
from jobu.errors import TransactionError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class _Setup:
    """What use_databases set for this process."""

    resolve: Callable[[str], Database] | None = None
    decision_log: DecisionLog | None = None
    allow_best_effort: bool = False


_setup = _Setup()
_thread = threading.local()


def use_databases(databases: Callable[[str], Database] | None, *,
                  decision_log: DecisionLog | None = None,
                  allow_best_effort_multi_commit: bool = False) -> None:
    """Set where transactional(name) finds databases, for every thread of this process.

    `databases` maps a name to a Database (a DatabaseRegistry does); the worker
    passes the registry it gives handlers. `decision_log` (the jobs database's
    Store) is needed for commits over several databases that can prepare.
    """
    global _setup
    _setup = _Setup(databases, decision_log, allow_best_effort_multi_commit)


def transactional(*databases: str | Database) -> Transactional:
    """A transaction over `databases`, as a decorator or a ``with`` block (see above)."""
    return Transactional(databases, readonly=False)


def transactional_readonly(*databases: str | Database) -> Transactional:
    """A read-only transaction over `databases`: the servers refuse writes in it."""
    return Transactional(databases, readonly=True)


def get_connection(database: str | Database) -> Connection:
    """This thread's connection to `database` in the transactional block it is in.

    It has execute, fetch_one, fetch_all, fetch_value, insert, and the raw DB-API
    connection as ``.connection``. Raises TransactionError outside a block that
    includes `database`.
    """
    name = database if isinstance(database, str) else database.name
    scope: _Scope | None = getattr(_thread, "scope", None)
    if scope is None:
        raise TransactionError(
            f"no transaction is open in this thread: call get_connection({name!r}) inside "
            f"@transactional({name!r}) or transactional_readonly (a thread the handler "
            "started opens its own)")
    participant = scope.participants.get(name)
    if participant is None:
        raise TransactionError(f"the transaction of this thread does not include {name!r} "
                               f"(it has {', '.join(scope.participants)}); name it in "
                               "@transactional")
    return participant.connection


class Transactional:
    """A transactional block over some databases: a context manager and a decorator."""

    def __init__(self, databases: Sequence[str | Database], *, readonly: bool) -> None:
        if not databases:
            raise TypeError("name at least one database: transactional(\"postgres_1\")")
        for database in databases:
            if not isinstance(database, str | Database):
                raise TypeError(f"a database is named by a string or given as a Database, "
                                f"got {database!r}")
        self._databases = tuple(databases)
        self._readonly = readonly

    def __repr__(self) -> str:
        kind = "transactional_readonly" if self._readonly else "transactional"
        names = ", ".join(repr(d if isinstance(d, str) else d.name) for d in self._databases)
        return f"{kind}({names})"

    def __call__(self, function: F) -> F:
        @functools.wraps(function)
        def in_transaction(*args: Any, **kwargs: Any) -> Any:
            with self:
                return function(*args, **kwargs)
        return cast(F, in_transaction)

    def __enter__(self) -> Any:
        scope: _Scope | None = getattr(_thread, "scope", None)
        outermost = scope is None
        if scope is None:
            scope = _thread.scope = _Scope(_setup)
        try:
            databases = [scope.resolve(database) for database in self._databases]
            scope.join(databases, readonly=self._readonly)
        except BaseException:
            if outermost:
                _thread.scope = None
                abort(list(scope.participants.values()))
            raise
        _entries().append(outermost)
        connections = tuple(scope.participants[d.name].connection for d in databases)
        return connections[0] if len(connections) == 1 else connections

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        outermost = _entries().pop()
        scope: _Scope = _thread.scope
        if not outermost:
            if error is not None and scope.doomed_by is None:
                scope.doomed_by = error
            return
        _thread.scope = None
        participants = list(scope.participants.values())
        if error is not None:
            abort(participants)
            return
        if scope.doomed_by is not None:
            abort(participants)
            cause = scope.doomed_by
            raise TransactionError(
                f"rolled back: an inner transactional block failed ({type(cause).__name__}: "
                f"{cause}) and the error was caught before the outermost block ended") from cause
        finish(participants, scope.plan())


def _entries() -> list[bool]:
    """For each block this thread is in, innermost last: was it the outermost one?"""
    entries = getattr(_thread, "entries", None)
    if entries is None:
        entries = _thread.entries = []
    return entries


class _Scope:
    """The transaction of this thread's outermost block: its participants, in order."""

    def __init__(self, setup: _Setup) -> None:
        self.setup = setup
        self.participants: dict[str, Participant] = {}
        #: The exception that left an inner block, if one did: the transaction must roll back.
        self.doomed_by: BaseException | None = None
        self._txid: str | None = None
        self._log_id: str | None = None

    def resolve(self, database: str | Database) -> Database:
        if isinstance(database, Database):
            return database
        if self.setup.resolve is None:
            raise TransactionError(
                f"no databases are set up in this process, so {database!r} means nothing: "
                "the worker sets them up for its handlers (jobu.db.use_databases); or pass "
                f"a Database, e.g. ctx.db({database!r})")
        return self.setup.resolve(database)

    def txid(self) -> str:
        if self._txid is None:
            self._txid = new_txid()
        return self._txid

    def log_id(self) -> str:
        if self._log_id is None:
            if self.setup.decision_log is None:
                raise TransactionError("a commit over several databases needs jobu's decision "
                                       "log, which this process was not given "
                                       "(jobu.db.use_databases)")
            self._log_id = self.setup.decision_log.decision_log_id()
        return self._log_id

    def plan(self) -> CommitPlan:
        return CommitPlan(self.setup.decision_log, self.setup.allow_best_effort,
                          self.txid, self.log_id)

    def join(self, databases: list[Database], *, readonly: bool) -> None:
        """Add the databases not in the transaction yet; check the ones that are."""
        new: list[Database] = []
        for database in databases:
            present = self.participants.get(database.name)
            if present is None:
                if database.name not in (d.name for d in new):
                    new.append(database)
            elif present.database is not database:
                raise TransactionError(f"two different databases are called {database.name!r} "
                                       "in one transaction", database=database.name)
            elif present.readonly and not readonly:
                raise TransactionError("a writing transactional block inside a read-only one "
                                       "on the same database", database=database.name)
        if not readonly:
            # Asked once per process, and before this block holds a connection of that
            # pool: with pool_size 1 a later question would wait for itself.
            for database in new:
                database.two_phase_capability()
        writers = [p for p in self.participants.values() if not p.readonly]
        together = not readonly and len(writers) + len(new) >= 2
        if together:
            self._refuse_unless_atomic(writers, new)
            self._refuse_the_log_file([p.database for p in writers] + new)
        opened: list[Participant] = []
        try:
            for database in new:
                participant = Participant(database, readonly=readonly,
                                          branch_number=len(self.participants) + 1)
                opened.append(participant)
                self.participants[database.name] = participant
                if together and database.two_phase_capability()[0] and \
                        database.dialect.tpc_begin_required:
                    participant.begin_two_phase(branch_gid(
                        self.log_id(), self.txid(), participant.branch_number))
        except BaseException:
            for participant in opened:
                del self.participants[participant.name]
            abort(opened)
            raise

    def _refuse_the_log_file(self, writers: list[Database]) -> None:
        """TransactionError for a SQLite writer that is the jobs database itself: the commit
        decision is written there, and SQLite has one writer at a time, this block."""
        log_database = getattr(self.setup.decision_log, "database", None)
        if not isinstance(log_database, Database) or log_database.dialect.name != "sqlite":
            return
        for database in writers:
            if database.dialect.name == "sqlite" and database.spec.path == log_database.spec.path:
                raise TransactionError(
                    "the jobs database cannot be written to in a transaction over several "
                    "databases when it is SQLite: the commit decision is written there, and "
                    "SQLite lets one writer at a time in, this transaction. Keep handlers' "
                    "data in a database of its own (sqlite_2 in the example database.yaml)",
                    database=database.name)

    def _refuse_unless_atomic(self, writers: list[Participant], new: list[Database]) -> None:
        """MultiCommitRefusedError, before any work, for two writers that cannot prepare."""
        if self.setup.allow_best_effort:
            return
        one_phase = [p.name for p in writers if not p.can_prepare()]
        one_phase += [d.name for d in new if not d.two_phase_capability()[0]]
        if len(one_phase) > 1:
            raise refusal(one_phase)

