"""The job store: every persistent operation jobu performs, one transaction each.

This is the contract the daemons, the admin and the CLI share. Methods are named
entity first (``cron_*``, ``execution_*``, ``worker_*``). Each runs as one short
transaction, repeated from the start if it lost a deadlock.

Leases and fencing: a claim gives each execution a lease token and a lease expiry
taken from the database's clock. Every later write of that attempt (complete,
fail, retry, release, progress) names the token and changes nothing when it no
longer matches: the lease expired and the execution was rescued, or it was
cancelled. Such a write raises :class:`~jobu.errors.LeaseLostError`.

Time: a ``now`` argument of None means the database's clock. Tests pass a time to
move through leases, backoffs and retention without sleeping.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from jobu.calendars import Calendar, parse_weekend, weekend_text
from jobu.db import Connection, Database
from jobu.errors import (
    AlreadyExistsError,
    CronNotFoundError,
    ExecutionNotFoundError,
    IntegrityError,
    InvalidInputError,
    InvalidStateError,
    LeaseLostError,
    NotFoundError,
    SchemaError,
)
from jobu.model import (
    AttemptError,
    CronJob,
    CronSpec,
    Execution,
    ExecutionFilter,
    ExecutionPage,
    NewExecution,
    OutcomeKind,
    RecentRuns,
    Status,
    WorkerInfo,
)
from jobu.store import migrate, rows
from jobu.store.audit import AuditMethods
from jobu.store.decisions import DecisionLogMethods
from jobu.store.listener import CRONS_CHANNEL, EXECUTIONS_CHANNEL
from jobu.store.queries import load_queries
from jobu.store.queue import QueueMethods
from jobu.store.stats import StatsMethods

#: Statuses an execution may end an attempt with for good.
FAILURE_STATUSES = (Status.FAILED, Status.TIMEOUT, Status.CANCELLED)

#: Executions per multi-row INSERT statement, and at most this much JSON for them (far
#: below MySQL's max_allowed_packet; a single bigger row goes in a statement of its own).
INSERT_BATCH_ROWS = 1000
INSERT_BATCH_CHARS = 2_000_000
#: Executions per transaction of execution_insert_bulk (`jobu enqueue --count`).
BULK_TRANSACTION_ROWS = 10_000
#: On SQLite, execution_insert_bulk pauses between two transactions for this share of
#: the time the last one took, at most SQLITE_BULK_PAUSE_MAX_SECONDS. A daemon waiting
#: for the write lock retries ever less often (SQLite's busy handler: 1, 2, 5 … 25 ms apart
#: in the first 0.1 s, then up to 100 ms), so a pause in that proportion lets it in.
SQLITE_BULK_PAUSE_SHARE = 0.25
SQLITE_BULK_PAUSE_MAX_SECONDS = 0.1


@dataclasses.dataclass(frozen=True)
class ClaimRequest:
    """A claim to make in the same transaction as a batch of outcomes (execution_finish_many)."""

    worker_id: str
    queues: Sequence[str]
    limit: int
    lease_seconds: float


@dataclasses.dataclass(frozen=True)
class FinishedAttempt:
    """The outcome of one attempt, as the worker writes it (execution_finish_many).

    `status` is SUCCESS for a success; for a retry, the status the failed attempt is
    recorded with (FAILED or TIMEOUT; the execution becomes RETRY); for a failure, the
    execution's final status (FAILED, TIMEOUT or CANCELLED). A release ignores it: the
    execution goes back to PENDING, or to RETRY when an earlier attempt failed.
    """

    execution_id: int
    lease_token: str
    kind: OutcomeKind
    status: Status
    #: The handler's result (success only), JSON-serialisable.
    result: Any = None
    error_message: str | None = None
    traceback: str | None = None
    #: How long a retry waits before it may run.
    delay_seconds: float = 0.0
    #: `result` already encoded as JSON, when the caller has it (the worker encodes it
    #: once, where it checks it); it is stored as it is. None: `result` is encoded here.
    result_json: str | None = None


@dataclasses.dataclass(frozen=True)
class FinishReport:
    """What execution_finish_many did. Every attempt it was given is in exactly one set."""

    #: Outcomes this call wrote.
    written: frozenset[int]
    #: Outcomes fenced out because they were already there: the row still carries the
    #: attempt's token but is no longer RUNNING, so an earlier commit of this outcome landed
    #: although its acknowledgement was lost. Not a lost lease.
    already_written: frozenset[int]
    #: Outcomes fenced out because the attempt no longer owns the row: its lease expired and
    #: it was rescued (or taken by another attempt since), or the row is gone.
    lost: frozenset[int]
    #: The executions claimed by the request made with the outcomes, in claim order.
    claimed: list[Execution]


@dataclasses.dataclass(frozen=True)
class LeaseRenewal:
    """What a worker learns when it renews the leases of the attempts it runs."""

    #: Executions whose lease this worker no longer holds: stop writing for them.
    lost: frozenset[int]
    #: Executions an operator asked to cancel.
    cancel_requested: frozenset[int]


@dataclasses.dataclass(frozen=True)
class Rescue:
    """An execution taken back from a worker whose lease ran out."""

    execution_id: int
    status: Status
    message: str


@dataclasses.dataclass(frozen=True)
class TickRecord:
    """What a dispatcher pass decided for one cron (see Store.cron_record_ticks)."""

    job_id: int
    name: str
    #: The cron as the pass read it: the record applies only if it is still so.
    version: int
    previous_tick_at: datetime | None
    #: The cron's new last evaluated tick and next tick to evaluate.
    last_tick_at: datetime | None
    next_tick_at: datetime | None
    #: Rows for the ticks: MISSED, SKIPPED or PENDING.
    executions: tuple[NewExecution, ...] = ()
    #: Disable the cron (a one-shot that has fired).
    disable: bool = False


@dataclasses.dataclass(frozen=True)
class CronOutlook:
    """The enabled crons at a glance: how a dispatcher knows how long it may sleep."""

    enabled: int
    #: Enabled crons with no planned tick yet (new or changed): due at once.
    unplanned: int
    #: The enabled cron whose planned tick comes first, and that tick.
    next_name: str | None
    next_tick_at: datetime | None


class Store(DecisionLogMethods, QueueMethods, AuditMethods, StatsMethods):
    """jobu's tables in one database."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.dialect = database.dialect.name
        self._q = load_queries(self.dialect)
        self._time = database.dialect.parse_time
        #: MySQL: whether a multi-row INSERT takes consecutive ids (read when first needed).
        self._insert_ids_consecutive: bool | None = None

    def close(self) -> None:
        self.database.close()

    # --- schema ------------------------------------------------------------------

    def migrate(self, target: int | None = None) -> list[migrate.Migration]:
        """Apply pending migrations; see :mod:`jobu.store.migrate`."""
        return migrate.migrate(self.database, target)

    def pending_migrations(self) -> list[migrate.Migration]:
        return migrate.pending_migrations(self.database)

    def check_schema(self) -> None:
        """Raise SchemaError unless every migration this jobu knows is applied."""
        pending = self.pending_migrations()
        if pending:
            names = ", ".join(m.label for m in pending)
            raise SchemaError(f"the database lacks migrations {names}; run `jobu migrate`",
                              database=self.database.name)

    def query(self, name: str) -> str:
        """The SQL of one of this dialect's named queries, for a connection the store does
        not manage (the MySQL worker's runnable probe)."""
        return self._q[name]

    def database_now(self) -> datetime:
        """The database's clock, which leases are measured by."""
        return self._time(self._read(lambda c: c.fetch_value(self._q["database_now"])))

    # --- crons -------------------------------------------------------------------

    def cron_create(self, spec: CronSpec, now: datetime | None = None) -> CronJob:
        """Store a new cron; AlreadyExistsError if the name is taken."""
        def work(conn: Connection) -> int:
            job_id = conn.insert(self._q["cron_insert"], {**rows.cron_params(spec), "now": now})
            self._notify(conn, CRONS_CHANNEL, spec.name)
            return job_id
        try:
            job_id = self._write(work)
        except IntegrityError as exc:
            self._raise_if_name_taken(spec.name, exc)
            raise
        return self.cron_get_by_id(job_id)

    def _raise_if_name_taken(self, name: str, cause: IntegrityError) -> None:
        """An IntegrityError on a cron write means "name taken" only if the name is taken."""
        row = self._read(lambda c: c.fetch_one(self._q["cron_get_by_name"], {"name": name}))
        if row is not None:
            raise AlreadyExistsError(f"a cron named {name!r} already exists") from cause

    def cron_get(self, name: str) -> CronJob:
        row = self._read(lambda c: c.fetch_one(self._q["cron_get_by_name"], {"name": name}))
        if row is None:
            raise CronNotFoundError(f"no cron named {name!r} (see `jobu cron list`)")
        return rows.cron_from_row(row, self._time)

    def cron_get_by_id(self, job_id: int) -> CronJob:
        row = self._read(lambda c: c.fetch_one(self._q["cron_get_by_id"], {"id": job_id}))
        if row is None:
            raise CronNotFoundError(f"no cron with id {job_id}")
        return rows.cron_from_row(row, self._time)

    def cron_list(self, *, enabled_only: bool = False) -> list[CronJob]:
        found = self._read(lambda c: c.fetch_all(self._q["cron_list"],
                                                 {"enabled_only": enabled_only}))
        return [rows.cron_from_row(row, self._time) for row in found]

    def cron_update(self, cron_name: str, /, now: datetime | None = None,
                    **changes: Any) -> CronJob:
        """Change fields of a cron (any CronSpec field, `name` too); bumps its version."""
        def work(conn: Connection) -> int:
            row = conn.fetch_one(self._q["cron_get_by_name"], {"name": cron_name})
            if row is None:
                raise CronNotFoundError(f"no cron named {cron_name!r} (see `jobu cron list`)")
            current = rows.cron_from_row(row, self._time)
            try:
                spec = dataclasses.replace(current.spec, **changes)
            except TypeError as exc:
                raise InvalidInputError(f"cannot change cron {cron_name!r}: {exc}") from exc
            conn.execute(self._q["cron_update"],
                         {**rows.cron_params(spec), "id": current.id, "now": now})
            self._notify(conn, CRONS_CHANNEL, spec.name)
            return current.id
        try:
            job_id = self._write(work)
        except IntegrityError as exc:
            if "name" in changes:
                self._raise_if_name_taken(changes["name"], exc)
            raise
        return self.cron_get_by_id(job_id)

    def cron_set_enabled(self, name: str, enabled: bool) -> CronJob:
        return self.cron_update(name, is_enabled=enabled)

    def cron_delete(self, name: str) -> None:
        """Remove a cron; its executions stay in the history without it."""
        job_id = self.cron_get(name).id

        def work(conn: Connection) -> None:
            self._lock_totals(conn)
            self._forget_cron_totals(conn, job_id)
            conn.execute(self._q["cron_delete"], {"id": job_id})
            self._notify(conn, CRONS_CHANNEL, name)
        self._write(work)

    def cron_counts(self) -> tuple[int, int]:
        """How many crons there are, and how many of them are enabled."""
        row = self._read(lambda c: c.fetch_one(self._q["cron_counts"]))
        return int(row["crons"]), int(row["enabled"])

    def cron_soonest_planned(self, now: datetime, limit: int) -> list[tuple[str, datetime]]:
        """The `limit` soonest planned ticks after `now` of enabled crons, as (name, tick):
        what the dispatcher planned (next_tick_at), read along its index."""
        found = self._read(lambda c: c.fetch_all(self._q["cron_soonest_planned"],
                                                 {"now": now, "limit": int(limit)}))
        return [(row["name"], self._time(row["next_tick_at"])) for row in found]

    def cron_due(self, now: datetime, limit: int = 500, *,
                 known: Mapping[int, CronJob] | None = None) -> list[CronJob]:
        """Enabled crons whose planned tick is at or before `now`, and unplanned ones.

        Unplanned crons (next_tick_at NULL: new, or changed since) come first, then
        by planned tick. `now` is the dispatcher's clock, which its ticks are
        computed by.

        `known` holds the crons the caller read before (by id), such as a
        dispatcher's last pass. A due cron whose version and updated_at still match
        its known copy is not read again: the copy is returned with the cron's
        current last and next tick, which are the only fields that change without a
        new version. At the top of the hour over thousands of crons, that spares
        the drivers most of the values (pure-Python drivers pay for each).
        """
        params = {"now": now, "limit": limit}
        if known is None:
            found = self._read(lambda c: c.fetch_all(self._q["cron_due"], params))
            return [rows.cron_from_row(row, self._time) for row in found]

        def work(conn: Connection) -> tuple[list[rows.CronHead], set[int], list[dict[str, Any]]]:
            heads = rows.cron_heads(conn.fetch_value(self._q["cron_due_heads"], params))
            stale = {head.id for head in heads if (head.version, head.updated_at) != (
                (held.version, held.updated_at) if (held := known.get(head.id)) else None)}
            if not stale:
                return heads, stale, []
            return heads, stale, conn.fetch_all(self._q["cron_get_many"], {"ids": sorted(stale)})

        heads, stale, found = self._read(work)
        fresh = {row["id"]: rows.cron_from_row(row, self._time) for row in found}
        due = []
        for head in heads:
            if head.id in fresh:
                due.append(fresh[head.id])
            elif head.id not in stale:
                cron = known[head.id]
                if (cron.last_tick_at, cron.next_tick_at) != (head.last_tick_at, head.next_tick_at):
                    cron = _with_ticks(cron, head.last_tick_at, head.next_tick_at)
                due.append(cron)
            # else: deleted between the two reads
        return due

    def cron_outlook(self) -> CronOutlook:
        """How many crons are enabled, how many are unplanned, and the first planned tick."""
        def work(conn: Connection) -> CronOutlook:
            counts = conn.fetch_one(self._q["cron_outlook"]) or {}
            first = conn.fetch_one(self._q["cron_next_planned"])
            return CronOutlook(
                enabled=int(counts.get("enabled") or 0),
                unplanned=int(counts.get("unplanned") or 0),
                next_name=first["name"] if first else None,
                next_tick_at=self._time(first["next_tick_at"]) if first else None)
        return self._read(work)

    def cron_record_ticks(self, records: Sequence[TickRecord],
                          now: datetime | None = None) -> list[list[int | None] | None]:
        """Record what a dispatcher pass decided for several crons, in one transaction.

        Each record is a compare-and-set on its cron: only if the cron still has
        the record's `version` and `previous_tick_at` are its last and next tick
        set (and the cron disabled, if asked) and the record's executions
        inserted. So when dispatchers race, one of them records a cron's ticks and
        the others change nothing. Returns, per record, None when the cron had
        changed or another dispatcher was first, else the new execution ids (None
        for a row whose tick already had one). Crons are locked in id order, so
        dispatchers recording the same crons queue instead of deadlocking.

        Set-based, so that 10,000 crons due in the same second are recorded within
        it: one UPDATE locks the crons (in id order), applies the compare-and-set
        and advances those that pass it, returning them (MySQL, without UPDATE …
        RETURNING: a locking read that applies the compare-and-set and names the crons
        that pass, then the UPDATE); then one multi-row INSERT per 1,000 rows adds their
        executions.
        """
        order = sorted(range(len(records)), key=lambda i: records[i].job_id)
        ids = [records[i].job_id for i in order]
        if len(set(ids)) != len(ids):
            raise InvalidInputError("cron_record_ticks takes one record per cron")

        def batch_of(chosen: list[int]) -> str:
            return rows.batch(
                rows.batch_row((r.job_id, r.version, rows.utc_text(r.previous_tick_at),
                                rows.utc_text(r.last_tick_at), rows.utc_text(r.next_tick_at),
                                r.disable)) for r in (records[i] for i in chosen))

        def work(conn: Connection) -> list[list[int | None] | None]:
            results: list[list[int | None] | None] = [None] * len(records)
            if not records:
                return results
            every = batch_of(order)
            if self.database.dialect.update_returning:
                advanced = {row["id"] for row in conn.fetch_all(
                    self._q["cron_advance_many"], {"now": now, "records": every})}
                won = [i for i in order if records[i].job_id in advanced]
            else:
                passed = {row["id"] for row in conn.fetch_all(self._q["cron_lock_many"],
                                                              {"records": every})}
                won = [i for i in order if records[i].job_id in passed]
                if won:
                    conn.execute(self._q["cron_advance_many"], {
                        "now": now, "records": every if len(won) == len(order) else batch_of(won)})
            if not won:
                return results
            news = [new for i in won for new in records[i].executions]
            inserted = iter(self._insert_rows(conn, news, now))
            for i in won:
                results[i] = [next(inserted) for _ in records[i].executions]
                if records[i].disable:
                    self._notify(conn, CRONS_CHANNEL, records[i].name)
            self._notify_runnable(conn, news, [eid for i in won for eid in results[i]])
            return results
        return self._write(work)

    def cron_last_runs(self) -> dict[int, tuple[Status, datetime | None]]:
        """The status and start of each cron's last execution that started, by cron id."""
        found = self._read(lambda conn: conn.fetch_all(self._q["cron_last_runs"]))
        return {int(row["job_id"]): (Status(row["status"]), self._time(row["started_at"]))
                for row in found}

    # --- executions: creating and reading -----------------------------------------

    def execution_insert(self, new: NewExecution, now: datetime | None = None) -> int | None:
        """Insert one execution; None when its tick or dedupe key already has a row."""
        return self.execution_insert_many([new], now)[0]

    def execution_insert_many(self, news: Sequence[NewExecution],
                              now: datetime | None = None) -> list[int | None]:
        """Insert several executions in one transaction (all or none).

        Returns their ids in the order given, None for one whose tick or dedupe key
        already had a row (nothing is inserted for it). Rows go in by multi-row
        INSERTs of up to INSERT_BATCH_ROWS; PostgreSQL's workers of each queue that
        got a runnable row are woken when the transaction commits.
        """
        news = list(news)  # read more than once, and again if the transaction is retried

        def work(conn: Connection) -> list[int | None]:
            ids = self._insert_rows(conn, news, now)
            self._notify_runnable(conn, news, ids)
            return ids
        return self._write(work)

    def execution_insert_bulk(self, news: Iterable[NewExecution], now: datetime | None = None,
                              *, per_transaction: int = BULK_TRANSACTION_ROWS
                              ) -> Iterator[list[int | None]]:
        """Insert any number of executions, `per_transaction` of them per transaction.

        Yields the ids of each transaction (as execution_insert_many returns them)
        once it has committed. NOT all or nothing: when one transaction fails, the
        ones before it stay committed. In exchange no transaction holds SQLite's
        one write lock for long, and on SQLite the insert pauses between
        transactions (SQLITE_BULK_PAUSE_SHARE), so that the daemons waiting for
        that lock get it.
        """
        if per_transaction < 1:
            raise InvalidInputError(f"per_transaction must be at least 1, got {per_transaction}")
        remaining = iter(news)
        pause = 0.0
        while chunk := list(itertools.islice(remaining, per_transaction)):
            time.sleep(pause)
            started = time.monotonic()
            ids = self.execution_insert_many(chunk, now)
            if self.dialect == "sqlite":
                pause = min(SQLITE_BULK_PAUSE_MAX_SECONDS,
                            SQLITE_BULK_PAUSE_SHARE * (time.monotonic() - started))
            yield ids

    def _insert_rows(self, conn: Connection, news: Sequence[NewExecution],
                     now: datetime | None) -> list[int | None]:
        """Insert `news` by multi-row INSERTs; their ids in order, None for a duplicate.

        Built for a million rows: a bulk enqueue repeats one object, which is encoded
        once, and the per-row work is left to C (map, slicing) where it can be.
        """
        encoded: dict[int, str] = {}
        for new in {id(new): new for new in news}.values():
            encoded[id(new)] = rows.execution_batch_row(new)
        texts = list(map(encoded.__getitem__, map(id, news)))
        if max(map(len, encoded.values()), default=0) * INSERT_BATCH_ROWS <= INSERT_BATCH_CHARS:
            batches = [texts[i:i + INSERT_BATCH_ROWS]
                       for i in range(0, len(texts), INSERT_BATCH_ROWS)]
        else:
            batches = _batches_by_size(texts)
        ids: list[int | None] = []
        for batch in batches:
            ids += self._insert_batch(conn, batch, now)
        return ids

    def _insert_batch(self, conn: Connection, texts: list[str],
                      now: datetime | None) -> list[int | None]:
        """One multi-row INSERT (see execution_insert_batch); the ids of its rows in order.

        The dialects tell which row got which id in three ways. PostgreSQL returns
        the ids in the rows' order. SQLite has one writer, so the transaction can
        number the rows itself: all went in when the count says so, else the ids
        still free in that range are the duplicates. MySQL, which has no INSERT …
        RETURNING, marks the new rows and reads the marks back (one row needs no mark:
        LAST_INSERT_ID() is its id).
        """
        params: dict[str, Any] = {"rows": rows.batch(texts), "now": now}
        if self.dialect == "postgres":
            return conn.fetch_value(self._q["execution_insert_batch"], params)
        if self.dialect == "sqlite":
            first = params["first_id"] = conn.fetch_value(self._q["execution_next_id"])
            wanted = range(first, first + len(texts))
            if conn.execute(self._q["execution_insert_batch"], params) == len(texts):
                return list(wanted)
            found = {row["id"] for row in conn.fetch_all(self._q["execution_ids_between"], {
                "first_id": wanted.start, "last_id": wanted.stop - 1})}
            return [i if i in found else None for i in wanted]
        if len(texts) == 1:  # its id is LAST_INSERT_ID(), if it went in: no mark needed
            return [conn.insert(self._q["execution_insert_batch"], {**params, "marker": None})]
        if self._consecutive_insert_ids(conn):
            # Most batches have no duplicate: then the rows' ids are the statement's block,
            # in order, and neither marks nor their two extra statements are needed. When
            # the count says a row was a duplicate, the batch is taken back and marked.
            conn.execute(self._q["execution_insert_savepoint"])
            inserted, first_id = conn.insert_counted(self._q["execution_insert_batch"],
                                                     {**params, "marker": None})
            if inserted == len(texts) and first_id is not None:
                return list(range(first_id, first_id + inserted))
            conn.execute(self._q["execution_insert_rollback"])
        marker = f"jobu-insert:{secrets.token_hex(8)}:"
        first_id = conn.insert(self._q["execution_insert_batch"], {**params, "marker": marker})
        found = [] if first_id is None else conn.fetch_all(
            self._q["execution_insert_marked"], {"first_id": first_id, "pattern": marker + "%"})
        if found:
            conn.execute(self._q["execution_insert_unmark"], {"ids": [r["id"] for r in found]})
        ids: list[int | None] = [None] * len(texts)
        for row in found:
            ids[int(row["lease_token"][len(marker):])] = row["id"]
        return ids

    def _consecutive_insert_ids(self, conn: Connection) -> bool:
        """Does one multi-row INSERT take consecutive ids, in its rows' order (MySQL)?

        InnoDB promises it when innodb_autoinc_lock_mode is 0 or 1 (MariaDB's default):
        an INSERT … SELECT holds the table's AUTO-INC lock until it ends. Mode 2 (MySQL 8's
        default) lets concurrent inserts interleave their ids. The mode is fixed while
        the server runs, so it is read once.
        """
        if self._insert_ids_consecutive is None:
            self._insert_ids_consecutive = bool(conn.fetch_value(
                self._q["execution_insert_ids_consecutive"]))
        return self._insert_ids_consecutive

    def _notify_runnable(self, conn: Connection, news: Sequence[NewExecution],
                         ids: Sequence[int | None]) -> None:
        """Wake the workers of each queue that got a runnable execution (PostgreSQL)."""
        if not self.database.dialect.supports_notify:
            return
        inserted = list(itertools.compress(news, ids))  # ids are None or positive
        distinct = dict(zip(map(id, inserted), inserted, strict=True)).values()
        for queue in sorted({new.queue for new in distinct if new.status.is_runnable}):
            self._notify(conn, EXECUTIONS_CHANNEL, queue)

    def execution_get(self, execution_id: int) -> Execution:
        row = self._read(lambda c: c.fetch_one(self._q["execution_get"], {"id": execution_id}))
        if row is None:
            raise ExecutionNotFoundError(f"no execution with id {execution_id}")
        return rows.execution_from_row(row, self._time)

    def execution_get_by_dedupe_key(self, dedupe_key: str) -> Execution | None:
        row = self._read(lambda c: c.fetch_one(self._q["execution_get_by_dedupe_key"],
                                               {"dedupe_key": dedupe_key}))
        return None if row is None else rows.execution_from_row(row, self._time)

    def execution_list(self, where: ExecutionFilter | None = None, *, limit: int = 50,
                       cursor: int | None = None) -> ExecutionPage:
        """One page of executions, newest first (keyset pagination on the id)."""
        params = {**self._execution_filter_params(where or ExecutionFilter()),
                  "cursor": cursor, "limit": limit + 1}
        found = self._read(lambda c: c.fetch_all(self._q["execution_list"], params))
        items = [rows.execution_from_row(row, self._time) for row in found[:limit]]
        return ExecutionPage(items, items[-1].id if len(found) > limit else None)

    def _execution_filter_params(self, where: ExecutionFilter) -> dict[str, Any]:
        statuses = tuple(str(s) for s in where.statuses or ())
        return {
            "any_status": not statuses, "statuses": statuses or ("",),
            "any_id": where.ids is None, "ids": tuple(where.ids or ()) or (0,),
            "job_id": where.job_id, "handler_name": where.handler_name,
            "param_source": str(where.param_source) if where.param_source else None,
            "since": where.since, "until": where.until,
        }

    def execution_list_states(self, where: ExecutionFilter,
                              limit: int) -> list[tuple[int, Status]]:
        """The id and status of up to `limit` executions `where` matches, newest first: what a
        bulk retry or cancel counts and acts on, without reading whole rows."""
        params = {**self._execution_filter_params(where), "limit": limit}
        found = self._read(lambda c: c.fetch_all(self._q["execution_list_states"], params))
        return [(row["id"], Status(row["status"])) for row in found]

    def execution_count_states(self, where: ExecutionFilter, limit: int) -> tuple[int, int]:
        """How many executions `where` matches, counting up to `limit`, and how many of those
        wait or run: what a bulk retry or cancel would touch, counted without reading them."""
        params = {**self._execution_filter_params(where), "limit": limit}
        row = self._read(lambda c: c.fetch_one(self._q["execution_count_states"], params))
        return int(row["matched"] or 0), int(row["unfinished"] or 0)

    def execution_errors(self, execution_id: int) -> list[AttemptError]:
        """The error that ended each failed attempt, oldest first."""
        found = self._read(lambda c: c.fetch_all(self._q["execution_errors_list"],
                                                 {"execution_id": execution_id}))
        return [rows.attempt_error_from_row(row, self._time) for row in found]

    def execution_active_for_crons(self, job_ids: Iterable[int]) -> dict[int, tuple[int, Status]]:
        """The oldest unfinished execution of each of the crons that has one."""
        wanted = sorted(set(job_ids))
        if not wanted:
            return {}
        found = self._read(lambda c: c.fetch_all(self._q["execution_active_for_crons"],
                                                 {"job_ids": wanted}))
        active: dict[int, tuple[int, Status]] = {}
        for row in found:
            active.setdefault(row["job_id"], (row["id"], Status(row["status"])))
        return active

    # --- executions: the worker's side ---------------------------------------------

    def execution_claim(self, worker_id: str, queues: Iterable[str], limit: int,
                        lease_seconds: float, now: datetime | None = None) -> list[Execution]:
        """Take up to `limit` runnable executions: highest priority, then oldest first.

        Each is RUNNING on `worker_id` with its attempt counted and a lease of
        `lease_seconds` from the database's clock. No two claims ever get the same
        execution. Over several queues the order holds across them. A claim costs the
        same however many rows wait: it walks the claim index of each queue in order.
        """
        params = self._claim_params(ClaimRequest(worker_id, tuple(queues), limit,
                                                 lease_seconds), now)
        if params is None:
            return []
        return self._claimed(self._write(lambda conn: self._claim(conn, params)), params)

    def _claim_params(self, request: ClaimRequest,
                      now: datetime | None) -> dict[str, Any] | None:
        """The parameters of a claim, with a new lease token; None if it can take nothing."""
        queues = list(dict.fromkeys(request.queues))
        if request.limit <= 0 or not queues:
            return None
        return {"worker_id": request.worker_id, "queues": queues, "limit": int(request.limit),
                "lease_token": secrets.token_hex(16),
                "lease_seconds": float(request.lease_seconds), "now": now}

    def _claim(self, conn: Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Claim in the caller's transaction; the rows taken, in no particular order.

        The pick is always by queue equality, which is what lets it follow the claim
        index instead of sorting every waiting row. With UPDATE … RETURNING (PostgreSQL,
        SQLite) a claim is one statement, for one queue or several. MySQL locks the
        best `limit` rows of each queue, keeps the best `limit` of them all and marks
        those; the locks on the others end with the transaction.
        """
        queues = params["queues"]
        if self.database.dialect.update_returning:
            if len(queues) == 1:
                return conn.fetch_all(self._q["execution_claim"], {**params, "queue": queues[0]},
                                      binary=True)
            return conn.fetch_all(self._q["execution_claim_queues"], params, binary=True)
        picked: list[dict[str, Any]] = []
        for queue in queues:
            picked += conn.fetch_all(self._q["execution_claim"], {**params, "queue": queue})
        if len(queues) > 1:
            picked.sort(key=lambda row: (-row["priority"], row["run_after"], row["id"]))
            del picked[params["limit"]:]
        if not picked:
            return []
        ids = [row["id"] for row in picked]
        conn.execute(self._q["execution_claim_mark"], {**params, "ids": ids})
        return conn.fetch_all(self._q["execution_get_claimed"], {"ids": ids})

    def _claimed(self, found: list[dict[str, Any]], params: dict[str, Any]) -> list[Execution]:
        """The executions of the rows a claim made with `params` returned, in claim order."""
        worker_id, lease_token, parse_time = params["worker_id"], params["lease_token"], self._time
        claimed = [rows.claimed_execution_from_row(row, parse_time, worker_id=worker_id,
                                                   lease_token=lease_token) for row in found]
        claimed.sort(key=lambda e: (-e.priority, e.run_after, e.id))
        return claimed

    def execution_finish_many(self, finished: Sequence[FinishedAttempt], *,
                              claim: ClaimRequest | None = None,
                              now: datetime | None = None) -> FinishReport:
        """Write the outcomes of several attempts, then claim, all in one transaction.

        The worker's group commit. Every SUCCESS is written by one statement; each
        retry, failure or release by one of its own (and a retry or failure by one more,
        the error row of its attempt, as execution_retry and execution_fail write).
        Each write is fenced by the attempt's lease token. One read then sorts the
        fenced-out attempts into those an earlier commit already wrote (the row keeps
        the token but is no longer RUNNING: that commit's acknowledgement was lost) and
        those whose lease was lost. `claim`, if given, claims as execution_claim does,
        after the writes. All or nothing: InvalidInputError (a result that is not JSON,
        an attempt given twice, a status that does not fit its kind) writes nothing.
        """
        tokens: dict[int, str] = {}
        successes: list[list[Any]] = []
        others: list[FinishedAttempt] = []
        for attempt in sorted(finished, key=lambda a: a.execution_id):
            if attempt.execution_id in tokens:
                raise InvalidInputError(
                    f"execution {attempt.execution_id} has two outcomes in one batch")
            _check_outcome(attempt)
            tokens[attempt.execution_id] = attempt.lease_token
            if attempt.kind is OutcomeKind.SUCCESS:
                successes.append([attempt.execution_id, attempt.lease_token,
                                  rows.to_json(attempt.result, "the handler's result")
                                  if attempt.result_json is None else attempt.result_json])
            else:
                others.append(attempt)
        claim_params = None if claim is None else self._claim_params(claim, now)

        def work(conn: Connection) -> tuple[set[int], list[dict[str, Any]],
                                            list[dict[str, Any]]]:
            written = self._complete_many(conn, successes, now) if successes else set()
            runnable = False
            for attempt in others:
                if self._write_outcome(conn, attempt, now):
                    written.add(attempt.execution_id)
                    runnable = runnable or attempt.kind is OutcomeKind.RELEASE or (
                        attempt.kind is OutcomeKind.RETRY and attempt.delay_seconds <= 0)
            if runnable:
                self._notify(conn, EXECUTIONS_CHANNEL, "")
            claimed = self._claim(conn, claim_params) if claim_params else []
            fenced = [eid for eid in tokens if eid not in written]
            states = conn.fetch_all(self._q["execution_finish_states"],
                                    {"ids": fenced}) if fenced else []
            return written, states, claimed

        written, states, claimed = self._write(work)
        already = {row["id"] for row in states if row["status"] != Status.RUNNING.value
                   and row["lease_token"] == tokens[row["id"]]}
        lost = set(tokens) - written - already
        return FinishReport(frozenset(written), frozenset(already), frozenset(lost),
                            self._claimed(claimed, claim_params) if claim_params else [])

    def _complete_many(self, conn: Connection, successes: list[list[Any]],
                       now: datetime | None) -> set[int]:
        """SUCCESS for [id, token, result JSON] entries, in one statement; the ids written."""
        params = {"finished": json.dumps(successes), "now": now}
        if self.database.dialect.update_returning:
            return {row["id"] for row in conn.fetch_all(self._q["execution_complete_many"],
                                                        params)}
        # No RETURNING (MySQL): lock the rows first; what they hold then says what the
        # update writes, since nothing else can change them before it.
        tokens = {entry[0]: entry[1] for entry in successes}
        states = conn.fetch_all(self._q["execution_finish_states"], {"ids": list(tokens)})
        held = {row["id"] for row in states if row["status"] == Status.RUNNING.value
                and row["lease_token"] == tokens[row["id"]]}
        if held:
            conn.execute(self._q["execution_complete_many"], params)
        return held

    def _write_outcome(self, conn: Connection, attempt: FinishedAttempt,
                       now: datetime | None) -> bool:
        """A retry, failure or release, with its attempt's error row; False if fenced out."""
        params = {"id": attempt.execution_id, "lease_token": attempt.lease_token, "now": now}
        if attempt.kind is OutcomeKind.RELEASE:
            return conn.execute(self._q["execution_release"], params) > 0
        message = attempt.error_message or ""
        if attempt.kind is OutcomeKind.RETRY:
            changed = conn.execute(self._q["execution_retry"], {
                **params, "error_message": message,
                "delay_seconds": float(attempt.delay_seconds)})
        else:
            changed = conn.execute(self._q["execution_finish_failed"], {
                **params, "status": str(attempt.status), "error_message": message})
        if changed:
            conn.execute(self._q["execution_error_insert"], {
                "execution_id": attempt.execution_id, "status": str(attempt.status),
                "error_message": message, "traceback": attempt.traceback, "now": now})
        return changed > 0

    def execution_complete(self, execution_id: int, lease_token: str, result: Any,
                           now: datetime | None = None) -> None:
        """SUCCESS with `result` (JSON-serialisable), if the lease is still held."""
        self._finish_alone(FinishedAttempt(execution_id, lease_token, OutcomeKind.SUCCESS,
                                           Status.SUCCESS, result=result), now)

    def execution_fail(self, execution_id: int, lease_token: str, error_message: str,
                       traceback: str | None = None, status: Status = Status.FAILED,
                       now: datetime | None = None) -> None:
        """End the execution as FAILED, TIMEOUT or CANCELLED, and record why."""
        self._finish_alone(FinishedAttempt(execution_id, lease_token, OutcomeKind.FAIL, status,
                                           error_message=error_message, traceback=traceback),
                           now)

    def execution_retry(self, execution_id: int, lease_token: str, delay_seconds: float,
                        error_message: str, traceback: str | None = None,
                        attempt_status: Status = Status.FAILED,
                        now: datetime | None = None) -> None:
        """RETRY after `delay_seconds`; the attempt's error is recorded as `attempt_status`."""
        self._finish_alone(FinishedAttempt(execution_id, lease_token, OutcomeKind.RETRY,
                                           attempt_status, error_message=error_message,
                                           traceback=traceback, delay_seconds=delay_seconds),
                           now)

    def execution_release(self, execution_id: int, lease_token: str,
                          now: datetime | None = None) -> None:
        """Give an unfinished attempt back without counting it (worker shutdown)."""
        self._finish_alone(FinishedAttempt(execution_id, lease_token, OutcomeKind.RELEASE,
                                           Status.PENDING), now)

    def _finish_alone(self, attempt: FinishedAttempt, now: datetime | None) -> None:
        """One outcome, through execution_finish_many; LeaseLostError unless it wrote it."""
        if attempt.execution_id not in self.execution_finish_many([attempt], now=now).written:
            raise LeaseLostError(attempt.execution_id)

    def execution_progress(self, execution_id: int, lease_token: str, fraction: float,
                           note: str | None = None, now: datetime | None = None) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise InvalidInputError(f"progress must be between 0 and 1, got {fraction}")
        params = {"id": execution_id, "lease_token": lease_token, "progress": float(fraction),
                  "progress_note": note, "now": now}
        if not self._write(lambda c: c.execute(self._q["execution_progress"], params)):
            raise LeaseLostError(execution_id)

    def _notify(self, conn: Connection, channel: str, payload: str) -> None:
        """Wake listening daemons when this transaction commits (PostgreSQL only)."""
        if self.database.dialect.supports_notify:
            conn.execute(self._q["notify"], {"channel": channel, "payload": payload})

    def execution_renew_leases(self, worker_id: str, held: Mapping[int, str],
                               lease_seconds: float,
                               now: datetime | None = None) -> LeaseRenewal:
        """Extend the leases `worker_id` holds, in one statement; report lost and cancelled.

        `held` maps each execution id the worker runs to its lease token. Only those
        rows are renewed, each while it is RUNNING on this worker under that token. A
        RUNNING row of this worker that it does not name (a claim that committed while
        the worker saw an error, so it never started it) is not renewed: its lease
        expires and a rescue takes it back.
        """
        if not held:
            return LeaseRenewal(frozenset(), frozenset())
        params = {"worker_id": worker_id, "lease_seconds": float(lease_seconds), "now": now,
                  "held": json.dumps([[eid, token] for eid, token in held.items()])}

        def work(conn: Connection) -> list[dict[str, Any]]:
            if self.database.dialect.update_returning:
                return conn.fetch_all(self._q["execution_renew_leases"], params)
            conn.execute(self._q["execution_renew_leases"], params)
            return conn.fetch_all(self._q["execution_lease_states"], params)

        kept = self._write(work)
        lost = set(held) - {row["id"] for row in kept}
        cancel = {row["id"] for row in kept if row["cancel_requested"]}
        return LeaseRenewal(frozenset(lost), frozenset(cancel))

    # --- executions: operators and maintenance -------------------------------------

    def execution_rescue_expired(self, limit: int = 100,
                                 now: datetime | None = None) -> list[Rescue]:
        """Take back RUNNING executions whose lease expired: their worker is gone.

        With attempts left they go to RETRY (due at once); without, FAILED; an
        execution whose cancel was requested becomes CANCELLED. Safe with several
        callers at once: each row is rescued by exactly one.
        """
        def work(conn: Connection) -> list[Rescue]:
            rescued = []
            for row in conn.fetch_all(self._q["execution_expired"], {"limit": limit, "now": now}):
                expired = self._time(row["lease_expires_at"])
                lost = (f"worker {row['worker_id']} lost "
                        f"(lease expired at {expired:%Y-%m-%d %H:%M:%S} UTC)")
                if row["cancel_requested"]:
                    status, message = Status.CANCELLED, f"cancelled; {lost}"
                elif row["attempt"] <= row["max_retry"]:
                    status, message = Status.RETRY, lost
                else:
                    status, message = Status.FAILED, lost
                conn.execute(self._q["execution_error_insert"], {
                    "execution_id": row["id"], "status": str(Status.FAILED),
                    "error_message": lost, "traceback": None, "now": now})
                changed = conn.execute(self._q["execution_rescue"], {
                    "id": row["id"], "lease_token": row["lease_token"], "status": str(status),
                    "error_message": message, "final": status.is_final, "now": now})
                if changed:
                    rescued.append(Rescue(row["id"], status, message))
            if any(r.status is Status.RETRY for r in rescued):
                self._notify(conn, EXECUTIONS_CHANNEL, "")
            return rescued
        return self._write(work)

    def execution_request_cancel(self, execution_id: int,
                                 now: datetime | None = None) -> Execution:
        """Cancel a waiting execution now, or ask its worker to stop a running one."""
        def work(conn: Connection) -> None:
            message = "cancelled by an operator"
            if conn.execute(self._q["execution_cancel_waiting"],
                            {"id": execution_id, "error_message": message, "now": now}):
                return
            if conn.execute(self._q["execution_cancel_running"], {"id": execution_id, "now": now}):
                return
            row = conn.fetch_one(self._q["execution_get"], {"id": execution_id})
            if row is None:
                raise ExecutionNotFoundError(f"no execution with id {execution_id}")
            raise InvalidStateError(
                f"execution {execution_id} has already finished ({row['status']})")
        self._write(work)
        return self.execution_get(execution_id)

    def execution_requeue(self, execution_id: int, now: datetime | None = None) -> Execution:
        """Run a finished execution again, from its first attempt."""
        def work(conn: Connection) -> None:
            self._lock_totals(conn)
            row = conn.fetch_one(self._q["stats_execution_state"], {"id": execution_id})
            if row is None:
                raise ExecutionNotFoundError(f"no execution with id {execution_id}")
            if not Status(row["status"]).is_final:
                raise InvalidStateError(f"execution {execution_id} is {row['status']}; only "
                                        "a finished one can be retried")
            # Its outcome leaves the statistics' totals; it comes back live until it ends.
            self._take_out(conn, [row])
            if row["folded"] and row["job_id"] is not None:
                conn.execute(self._q["stats_unfolded_add"],
                             {"id": execution_id, "job_id": row["job_id"]})
            conn.execute(self._q["execution_requeue"], {"id": execution_id, "now": now})
            self._notify(conn, EXECUTIONS_CHANNEL, "")
        self._write(work)
        return self.execution_get(execution_id)

    def execution_prune(self, status: Status, older_than_days: int, *, batch_size: int = 1000,
                        now: datetime | None = None) -> int:
        """Delete up to `batch_size` executions in `status` finished over N days ago, taking
        them out of the statistics' totals (jobu.store.rollup) in the same transaction."""
        def work(conn: Connection) -> int:
            self._lock_totals(conn)
            doomed = conn.fetch_all(self._q["execution_prune_candidates"], {
                "status": str(status), "days": int(older_than_days), "limit": batch_size,
                "now": now})
            if not doomed:
                return 0
            self._take_out(conn, doomed)
            ids = [row["id"] for row in doomed]
            conn.execute(self._q["stats_unfolded_remove"], {"ids": ids})
            return conn.execute(self._q["execution_delete_ids"], {"ids": ids})
        return self._write(work)

    # --- workers -----------------------------------------------------------------

    def worker_register(self, info: WorkerInfo, now: datetime | None = None) -> None:
        self._write(lambda c: c.execute(self._q["worker_upsert"],
                                        {**rows.worker_params(info), "now": now}))

    def worker_heartbeat(self, worker_id: str, running: int,
                         now: datetime | None = None) -> bool:
        """Refresh the worker's row; False if it is gone (pruned) and must re-register."""
        changed = self._write(lambda c: c.execute(self._q["worker_heartbeat"], {
            "id": worker_id, "running": running, "now": now}))
        return changed > 0

    def worker_deregister(self, worker_id: str) -> None:
        self._write(lambda c: c.execute(self._q["worker_delete"], {"id": worker_id}))

    def worker_list(self) -> list[WorkerInfo]:
        found = self._read(lambda c: c.fetch_all(self._q["worker_list"]))
        return [rows.worker_from_row(row, self._time) for row in found]

    def worker_prune(self, older_than_seconds: float, now: datetime | None = None) -> int:
        """Forget workers whose last heartbeat is older than `older_than_seconds`."""
        return self._write(lambda c: c.execute(self._q["worker_prune"], {
            "older_than_seconds": float(older_than_seconds), "now": now}))

    # --- crons managed by files ----------------------------------------------------

    def cron_managed(self) -> dict[str, str]:
        """The crons that a crons file manages: name -> the file's path."""
        found = self._read(lambda c: c.fetch_all(self._q["cron_managed_list"]))
        return {row["name"]: row["managed_by"] for row in found}

    def cron_managed_by(self, name: str) -> str | None:
        """The file that manages cron `name`, or None (no such cron, or not from a file)."""
        return self._read(lambda c: c.fetch_value(self._q["cron_managed_by"], {"name": name}))

    def cron_set_managed_by(self, name: str, source: str | None) -> None:
        """Mark cron `name` as managed by file `source` (None: by nobody). Its version
        stays: how it is scheduled has not changed, so dispatchers need not plan again."""
        self._write(lambda c: c.execute(self._q["cron_set_managed_by"],
                                        {"name": name, "managed_by": source}))

    # --- plumbing ----------------------------------------------------------------

    def _read(self, work):
        return self.database.run(work, write=False)

    def _write(self, work):
        return self.database.run(work, write=True)

    # --- users of jobu-admin ---------------------------------------------------------

    def admin_user_create(self, name: str, role: str, password_hash: str) -> None:
        """Store a user of the admin; AlreadyExistsError if the name is taken."""
        try:
            self._write(lambda c: c.execute(self._q["admin_user_insert"], {
                "name": name, "role": role, "password_hash": password_hash}))
        except IntegrityError as exc:
            if self.admin_user_get(name) is not None:
                raise AlreadyExistsError(f"an admin user named {name!r} already exists") \
                    from exc
            raise

    def admin_user_get(self, name: str) -> dict[str, Any] | None:
        """The user called `name` (name, role, password_hash, api_token_hash, created_at)."""
        row = self._read(lambda c: c.fetch_one(self._q["admin_user_get"], {"name": name}))
        return self._admin_user(row)

    def admin_user_by_token(self, token_hash: str) -> dict[str, Any] | None:
        """The user whose API token hashes to `token_hash`, or None."""
        row = self._read(lambda c: c.fetch_one(self._q["admin_user_by_token"],
                                               {"token_hash": token_hash}))
        return self._admin_user(row)

    def admin_user_list(self) -> list[dict[str, Any]]:
        found = self._read(lambda c: c.fetch_all(self._q["admin_user_list"]))
        return [self._admin_user(row) for row in found]

    def admin_user_delete(self, name: str) -> bool:
        """Remove the user; False if there was none."""
        return self._write(lambda c: c.execute(self._q["admin_user_delete"],
                                               {"name": name})) > 0

    def admin_user_set_password(self, name: str, password_hash: str) -> bool:
        """Replace the user's password hash; False if there is no such user."""
        return self._write(lambda c: c.execute(self._q["admin_user_set_password"], {
            "name": name, "password_hash": password_hash})) > 0

    def admin_user_set_token(self, name: str, token_hash: str | None) -> bool:
        """Replace (None: revoke) the user's API token hash; False if there is no such user."""
        return self._write(lambda c: c.execute(self._q["admin_user_set_token"], {
            "name": name, "token_hash": token_hash})) > 0

    def _admin_user(self, row: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if row is None:
            return None
        return {**row, "created_at": self._time(row["created_at"])}


    # --- business calendars (jobu.calendars) -------------------------------------------

    def calendar_save(self, calendar: Calendar) -> Calendar:
        """Create or replace the calendar called `calendar.name`, days and all, in one
        transaction; its version is bumped, and the crons whose schedule names it are
        planned again at once. Writers saving one calendar at once each succeed, the last
        one's days in force."""
        def work(conn: Connection) -> None:
            found = conn.fetch_one(self._q["calendar_get_by_name"], {"name": calendar.name})
            fields = {"name": calendar.name, "description": calendar.description,
                      "timezone": calendar.timezone,
                      "weekend": weekend_text(calendar.weekend)}
            if found is None:
                calendar_id = conn.insert(self._q["calendar_insert"], fields)
            else:
                calendar_id = found["id"]
                conn.execute(self._q["calendar_update"], {**fields, "id": calendar_id})
                conn.execute(self._q["calendar_days_delete"], {"id": calendar_id})
            for day, name in sorted(calendar.holidays.items()):
                conn.execute(self._q["calendar_day_insert"],
                             {"id": calendar_id, "day": day.isoformat(), "name": name})
            conn.execute(self._q["calendar_crons_replan"],
                         {"pattern": f"% calendar {calendar.name}%"})
            self._notify(conn, CRONS_CHANNEL, f"calendar:{calendar.name}")
        try:
            self._write(work)
        except IntegrityError:
            # Another writer added the same new calendar between our read and our insert
            # (two dispatchers applying one calendars.yaml): save over theirs.
            if calendar.name not in self.calendar_versions():
                raise
            self._write(work)
        return self.calendar_get(calendar.name)

    def calendar_get(self, name: str) -> Calendar:
        """The calendar called `name`; NotFoundError if there is none."""
        def work(conn: Connection) -> tuple[dict, list[dict]] | None:
            found = conn.fetch_one(self._q["calendar_get_by_name"], {"name": name})
            if found is None:
                return None
            return found, conn.fetch_all(self._q["calendar_days"], {"id": found["id"]})
        read = self._read(work)
        if read is None:
            raise NotFoundError(f"no calendar named {name!r}; add it with "
                                f"`jobu calendar add {name}` (see `jobu calendar list`)")
        row, days = read
        return Calendar(name=row["name"], description=row["description"] or "",
                        timezone=row["timezone"], weekend=parse_weekend(row["weekend"]),
                        version=row["version"],
                        holidays={date.fromisoformat(d["day"]): d["name"] for d in days})

    def calendar_list(self) -> list[dict[str, Any]]:
        """Every calendar: name, description, timezone, weekend, version, day_count,
        first_day and last_day (the range of its holidays), by name."""
        found = self._read(lambda c: c.fetch_all(self._q["calendar_list"]))
        return [{key: row[key] for key in ("name", "description", "timezone", "weekend",
                                           "version", "day_count", "first_day", "last_day")}
                for row in found]

    def calendar_versions(self) -> dict[str, int]:
        """The version of every calendar, by name: what a dispatcher checks each pass."""
        found = self._read(lambda c: c.fetch_all(self._q["calendar_versions"]))
        return {row["name"]: row["version"] for row in found}

    def calendar_delete(self, name: str) -> None:
        """Remove a calendar and its days; NotFoundError if there is none."""
        def work(conn: Connection) -> bool:
            found = conn.fetch_one(self._q["calendar_get_by_name"], {"name": name})
            if found is None:
                return False
            conn.execute(self._q["calendar_days_delete"], {"id": found["id"]})
            conn.execute(self._q["calendar_delete"], {"id": found["id"]})
            return True
        if not self._write(work):
            raise NotFoundError(f"no calendar named {name!r} (see `jobu calendar list`)")

    def calendar_managed(self) -> dict[str, str]:
        """The calendars that a calendars file manages: name -> the file's path."""
        found = self._read(lambda c: c.fetch_all(self._q["calendar_managed_list"]))
        return {row["name"]: row["managed_by"] for row in found}

    def calendar_managed_by(self, name: str) -> str | None:
        """The file that manages calendar `name`, or None (no such calendar, or not from a
        file)."""
        return self._read(lambda c: c.fetch_value(self._q["calendar_managed_by"],
                                                  {"name": name}))

    def calendar_set_managed_by(self, name: str, source: str | None) -> None:
        """Mark calendar `name` as managed by file `source` (None: by nobody). Its version
        stays: its days have not changed, so no cron need be planned again."""
        self._write(lambda c: c.execute(self._q["calendar_set_managed_by"],
                                        {"name": name, "managed_by": source}))

    # --- metrics

    def metrics_read(self, now: datetime, *, finished_since: datetime,
                     heartbeat_since: datetime) -> dict[str, Any]:
        """What /metrics reports, read in one transaction, each part along an index:

        * ``active``: status -> count of the executions not finished yet;
        * ``waiting``: queue -> (count, oldest run_after) of the runnable executions
          (PENDING or RETRY whose run_after has come by `now`);
        * ``finished``: final status -> count of the executions that ended in
          (`finished_since`, `now`];
        * ``timed``, ``avg_duration``, ``p95_duration``: the runs among those (SUCCESS,
          FAILED, TIMEOUT, started) and their durations in seconds (p95 by nearest rank);
        * ``scheduled``, ``avg_lateness``, ``p95_lateness``: the runs among those with a
          scheduled time, and how late they started;
        * ``daemons``: kind -> registered daemons with a heartbeat since `heartbeat_since`;
        * ``dead_letters``: how many dead letters jobu-queued keeps.
        """
        window = {"since": finished_since, "now": now}

        def rank_of(conn: Connection, query: str, count: int) -> float | None:
            if not count:
                return None
            return _float(conn.fetch_value(self._q[query],
                                           {**window, "rank": math.ceil(0.95 * count) - 1}))

        def work(conn: Connection) -> dict[str, Any]:
            timing = conn.fetch_one(self._q["metrics_finished_timing"], window) or {}
            timed, scheduled = int(timing.get("timed") or 0), int(timing.get("scheduled") or 0)
            return {
                "active": {row["status"]: int(row["count"]) for row in
                           conn.fetch_all(self._q["metrics_active_counts"])},
                "waiting": {row["queue"]: (int(row["waiting"]), self._time(row["oldest"]))
                            for row in conn.fetch_all(self._q["metrics_queue_waiting"],
                                                      {"now": now})},
                "finished": {row["status"]: int(row["count"]) for row in
                             conn.fetch_all(self._q["metrics_finished_counts"], window)},
                "timed": timed, "avg_duration": _float(timing.get("avg_duration")),
                "p95_duration": rank_of(conn, "metrics_duration_rank", timed),
                "scheduled": scheduled, "avg_lateness": _float(timing.get("avg_lateness")),
                "p95_lateness": rank_of(conn, "metrics_lateness_rank", scheduled),
                "daemons": {row["kind"]: int(row["count"]) for row in conn.fetch_all(
                    self._q["metrics_live_daemons"], {"since": heartbeat_since})},
                "dead_letters": int(conn.fetch_value(self._q["metrics_dead_letters"]) or 0),
            }
        return self._read(work)

    # --- admin charts

    def execution_recent_for_crons(self, job_ids: Iterable[int],
                                   per_cron: int) -> dict[int, RecentRuns]:
        """The newest `per_cron` executions of each cron in `job_ids` that has any, by cron
        id: one query along job_executions_job whatever the number of crons or the length
        of their histories, and one row per cron."""
        wanted = sorted(set(job_ids))
        if not wanted or per_cron < 1:
            return {}
        found = self._read(lambda c: c.fetch_all(
            self._q["admin_recent_runs"],
            {"job_ids": wanted, "limit": per_cron, "offset": per_cron - 1}))
        return {int(row["job_id"]): rows.recent_runs_from_row(row, self._time)
                for row in found}

    def execution_finished_by_hour(self, since: datetime, until: datetime
                                   ) -> list[dict[str, Any]]:
        """Executions that finished (SUCCESS, FAILED, TIMEOUT) in [since, until), grouped by
        UTC hour and status: ``hour`` (text "YYYY-MM-DD HH"), ``status``, ``finished``, and
        ``lateness_sum`` / ``lateness_count`` (seconds late at start, of those with a
        scheduled time), read along job_executions_finished."""
        found = self._read(lambda c: c.fetch_all(self._q["admin_finished_by_hour"],
                                                 {"since": since, "until": until}))
        return [{"hour": str(row["hour"]), "status": Status(row["status"]),
                 "finished": int(row["finished"]),
                 "lateness_sum": _float(row["lateness_sum"]) or 0.0,
                 "lateness_count": int(row["lateness_count"] or 0)} for row in found]

    def cron_page_by_name(self, *, after: str | None, text: str, enabled: bool | None,
                          limit: int) -> tuple[list[CronJob], int]:
        """Up to `limit` crons by name after `after`, whose name or handler contains `text`
        (any case; "" for all) and whose enabled flag is `enabled` (None: either), and how
        many crons match over every page; along the unique index on name."""
        escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params = {"after": after, "pattern": f"%{escaped}%" if text else None,
                  "enabled": enabled, "limit": limit}

        def work(conn: Connection) -> tuple[list[dict[str, Any]], int]:
            return (conn.fetch_all(self._q["admin_cron_page"], params),
                    int(conn.fetch_value(self._q["admin_cron_count"], params) or 0))
        found, matched = self._read(work)
        return [rows.cron_from_row(row, self._time) for row in found], matched

def _with_ticks(cron: CronJob, last_tick_at: datetime | None,
                next_tick_at: datetime | None) -> CronJob:
    """`cron` with other ticks: dataclasses.replace's result, at a small part of its cost
    (and a third of copy.copy's), since CronJob is a frozen dataclass with a plain __dict__
    and nothing its __init__ must run (rows.fast_constructor relies on the same)."""
    changed = object.__new__(CronJob)
    changed.__dict__.update(cron.__dict__, last_tick_at=last_tick_at, next_tick_at=next_tick_at)
    return changed


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _batches_by_size(texts: list[str]) -> list[list[str]]:
    """Batch rows of INSERT_BATCH_ROWS at most and INSERT_BATCH_CHARS of JSON at most."""
    batches: list[list[str]] = []
    batch: list[str] = []
    size = 0
    for text in texts:
        if batch and (len(batch) == INSERT_BATCH_ROWS or size + len(text) > INSERT_BATCH_CHARS):
            batches.append(batch)
            batch, size = [], 0
        batch.append(text)
        size += len(text)
    if batch:
        batches.append(batch)
    return batches


#: The statuses an outcome of each kind may carry (a release's is not used).
_OUTCOME_STATUSES = {
    OutcomeKind.SUCCESS: (Status.SUCCESS,),
    OutcomeKind.RETRY: FAILURE_STATUSES,
    OutcomeKind.FAIL: FAILURE_STATUSES,
}


def _check_outcome(attempt: FinishedAttempt) -> None:
    """InvalidInputError for an outcome whose status does not fit its kind."""
    if not isinstance(attempt.kind, OutcomeKind):
        raise InvalidInputError(f"an outcome's kind is an OutcomeKind, not {attempt.kind!r}")
    allowed = _OUTCOME_STATUSES.get(attempt.kind)
    if allowed is not None and attempt.status not in allowed:
        raise InvalidInputError(f"an execution cannot end a {attempt.kind} outcome with "
                                f"status {attempt.status}")
