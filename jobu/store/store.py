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
import math
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from jobu.db import Connection, Database
from jobu.errors import (
    AlreadyExistsError,
    CronNotFoundError,
    ExecutionNotFoundError,
    IntegrityError,
    InvalidInputError,
    InvalidStateError,
    LeaseLostError,
    SchemaError,
)
from jobu.model import (
    AttemptError,
    CronJob,
    CronSpec,
    CronStats,
    Execution,
    ExecutionFilter,
    ExecutionPage,
    NewExecution,
    Status,
    WorkerInfo,
)
from jobu.store import migrate, rows
from jobu.store.decisions import DecisionLogMethods
from jobu.store.listener import CRONS_CHANNEL, EXECUTIONS_CHANNEL
from jobu.store.queries import load_queries

#: Statuses an execution may end an attempt with for good.
FAILURE_STATUSES = (Status.FAILED, Status.TIMEOUT, Status.CANCELLED)


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


class Store(DecisionLogMethods):
    """jobu's tables in one database."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.dialect = database.dialect.name
        self._q = load_queries(self.dialect)
        self._time = database.dialect.parse_time

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
            conn.execute(self._q["cron_delete"], {"id": job_id})
            self._notify(conn, CRONS_CHANNEL, name)
        self._write(work)

    def cron_mark_ticked(self, job_id: int, last_tick_at: datetime,
                         next_tick_at: datetime | None) -> bool:
        """Record the last tick evaluated; False if another dispatcher got further."""
        changed = self._write(lambda c: c.execute(self._q["cron_mark_ticked"], {
            "id": job_id, "last_tick_at": last_tick_at, "next_tick_at": next_tick_at}))
        return changed > 0

    def cron_due(self, now: datetime, limit: int = 500) -> list[CronJob]:
        """Enabled crons whose planned tick is at or before `now`, and unplanned ones.

        Unplanned crons (next_tick_at NULL: new, or changed since) come first, then
        by planned tick. `now` is the dispatcher's clock, which its ticks are
        computed by.
        """
        found = self._read(lambda c: c.fetch_all(self._q["cron_due"],
                                                 {"now": now, "limit": limit}))
        return [rows.cron_from_row(row, self._time) for row in found]

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

        Every record must change the cron's last or next tick: MySQL counts a row
        whose values stay the same as not updated, which would read as a lost race.
        """
        order = sorted(range(len(records)), key=lambda i: records[i].job_id)

        def work(conn: Connection) -> list[list[int | None] | None]:
            results: list[list[int | None] | None] = [None] * len(records)
            runnable: set[str] = set()
            for index in order:
                record = records[index]
                if not conn.execute(self._q["cron_advance"], {
                        "id": record.job_id, "version": record.version,
                        "previous_tick_at": record.previous_tick_at,
                        "last_tick_at": record.last_tick_at,
                        "next_tick_at": record.next_tick_at, "disable": record.disable,
                        "now": now}):
                    continue
                ids = [self._insert(conn, new, now) for new in record.executions]
                runnable |= {new.queue for new, i in zip(record.executions, ids, strict=True)
                             if i is not None and new.status.is_runnable}
                if record.disable:
                    self._notify(conn, CRONS_CHANNEL, record.name)
                results[index] = ids
            for queue in sorted(runnable):
                self._notify(conn, EXECUTIONS_CHANNEL, queue)
            return results
        return self._write(work)

    def cron_stats(self, job_id: int) -> CronStats:
        def work(conn: Connection) -> CronStats:
            counts = conn.fetch_one(self._q["cron_stats_counts"], {"job_id": job_id}) or {}
            timed = int(counts.get("timed") or 0)
            p95 = None
            if timed:
                p95 = conn.fetch_value(self._q["cron_stats_duration_rank"],
                                       {"job_id": job_id, "rank": math.ceil(0.95 * timed) - 1})
            last = conn.fetch_one(self._q["cron_stats_last_run"], {"job_id": job_id})
            return CronStats(
                job_id=job_id, total=int(counts.get("total") or 0),
                success=int(counts.get("success") or 0), failed=int(counts.get("failed") or 0),
                timeout=int(counts.get("timeout") or 0), skipped=int(counts.get("skipped") or 0),
                missed=int(counts.get("missed") or 0),
                last_run_at=self._time(last["started_at"]) if last else None,
                last_status=Status(last["status"]) if last else None,
                avg_duration_seconds=_float(counts.get("avg_duration")),
                p95_duration_seconds=_float(p95),
                avg_start_lateness_seconds=_float(counts.get("avg_lateness")),
            )
        return self._read(work)

    # --- executions: creating and reading -----------------------------------------

    def execution_insert(self, new: NewExecution, now: datetime | None = None) -> int | None:
        """Insert one execution; None when its tick or dedupe key already has a row."""
        return self.execution_insert_many([new], now)[0]

    def execution_insert_many(self, news: Sequence[NewExecution],
                              now: datetime | None = None) -> list[int | None]:
        """Insert several executions in one transaction (all or none)."""
        def work(conn: Connection) -> list[int | None]:
            ids = [self._insert(conn, new, now) for new in news]
            runnable = {new.queue for new, i in zip(news, ids, strict=True)
                        if i is not None and new.status.is_runnable}
            for queue in sorted(runnable):
                self._notify(conn, EXECUTIONS_CHANNEL, queue)
            return ids
        return self._write(work)

    def _insert(self, conn: Connection, new: NewExecution, now: datetime | None) -> int | None:
        return conn.insert(self._q["execution_insert"], {
            "job_id": new.job_id, "handler_name": new.handler_name,
            "params": rows.to_json(new.params, "params"), "param_source": str(new.param_source),
            "scheduled_time": new.scheduled_time, "status": str(new.status),
            "max_retry": new.max_retry, "retry_backoff_seconds": new.retry_backoff_seconds,
            "timeout_seconds": new.timeout_seconds, "run_after": new.run_after,
            "priority": new.priority, "queue": new.queue, "isolation": str(new.isolation),
            "dedupe_key": new.dedupe_key, "error_message": new.error_message,
            "final": new.status.is_final, "now": now,
        })

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
        where = where or ExecutionFilter()
        statuses = tuple(str(s) for s in where.statuses or ())
        params = {
            "cursor": cursor, "any_status": not statuses, "statuses": statuses or ("",),
            "job_id": where.job_id, "handler_name": where.handler_name,
            "param_source": str(where.param_source) if where.param_source else None,
            "since": where.since, "until": where.until, "limit": limit + 1,
        }
        found = self._read(lambda c: c.fetch_all(self._q["execution_list"], params))
        items = [rows.execution_from_row(row, self._time) for row in found[:limit]]
        return ExecutionPage(items, items[-1].id if len(found) > limit else None)

    def execution_errors(self, execution_id: int) -> list[AttemptError]:
        """The error that ended each failed attempt, oldest first."""
        found = self._read(lambda c: c.fetch_all(self._q["execution_errors_list"],
                                                 {"execution_id": execution_id}))
        return [rows.attempt_error_from_row(row, self._time) for row in found]

    def execution_active_for_cron(self, job_id: int) -> tuple[int, Status] | None:
        """An unfinished execution of the cron (for the overlap rule), or None."""
        row = self._read(lambda c: c.fetch_one(self._q["execution_active_for_cron"],
                                               {"job_id": job_id}))
        return None if row is None else (row["id"], Status(row["status"]))

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
        execution.
        """
        if limit <= 0:
            return []
        params = {"worker_id": worker_id, "queues": tuple(queues), "limit": limit,
                  "lease_token": secrets.token_hex(16), "lease_seconds": float(lease_seconds),
                  "now": now}

        def work(conn: Connection) -> list[dict[str, Any]]:
            if self.database.dialect.update_returning:
                return conn.fetch_all(self._q["execution_claim"], params)
            picked = [row["id"] for row in conn.fetch_all(self._q["execution_claim"], params)]
            if not picked:
                return []
            conn.execute(self._q["execution_claim_mark"], {**params, "ids": picked})
            return conn.fetch_all(self._q["execution_get_many"], {"ids": picked})

        claimed = [rows.execution_from_row(row, self._time) for row in self._write(work)]
        claimed.sort(key=lambda e: (-e.priority, e.run_after, e.id))
        return claimed

    def execution_complete(self, execution_id: int, lease_token: str, result: Any,
                           now: datetime | None = None) -> None:
        """SUCCESS with `result` (JSON-serialisable), if the lease is still held."""
        self._fenced(execution_id, "execution_complete", lease_token, now,
                     result=rows.to_json(result, "the handler's result"))

    def execution_fail(self, execution_id: int, lease_token: str, error_message: str,
                       traceback: str | None = None, status: Status = Status.FAILED,
                       now: datetime | None = None) -> None:
        """End the execution as FAILED, TIMEOUT or CANCELLED, and record why."""
        if status not in FAILURE_STATUSES:
            raise InvalidInputError(f"an execution cannot fail with status {status}")
        self._fenced(execution_id, "execution_finish_failed", lease_token, now,
                     status=str(status), error_message=error_message,
                     _error=(status, error_message, traceback))

    def execution_retry(self, execution_id: int, lease_token: str, delay_seconds: float,
                        error_message: str, traceback: str | None = None,
                        attempt_status: Status = Status.FAILED,
                        now: datetime | None = None) -> None:
        """RETRY after `delay_seconds`; the attempt's error is recorded as `attempt_status`."""
        self._fenced(execution_id, "execution_retry", lease_token, now,
                     delay_seconds=float(delay_seconds), error_message=error_message,
                     _error=(attempt_status, error_message, traceback))

    def execution_release(self, execution_id: int, lease_token: str,
                          now: datetime | None = None) -> None:
        """Give an unfinished attempt back without counting it (worker shutdown)."""
        self._fenced(execution_id, "execution_release", lease_token, now,
                     _notify_channel=EXECUTIONS_CHANNEL)

    def execution_progress(self, execution_id: int, lease_token: str, fraction: float,
                           note: str | None = None, now: datetime | None = None) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise InvalidInputError(f"progress must be between 0 and 1, got {fraction}")
        self._fenced(execution_id, "execution_progress", lease_token, now,
                     progress=float(fraction), progress_note=note)

    def _notify(self, conn: Connection, channel: str, payload: str) -> None:
        """Wake listening daemons when this transaction commits (PostgreSQL only)."""
        if self.database.dialect.supports_notify:
            conn.execute(self._q["notify"], {"channel": channel, "payload": payload})

    def _fenced(self, execution_id: int, query: str, lease_token: str, now: datetime | None,
                _error: tuple[Status, str, str | None] | None = None,
                _notify_channel: str | None = None, **values: Any) -> None:
        params = {"id": execution_id, "lease_token": lease_token, "now": now, **values}

        def work(conn: Connection) -> int:
            changed = conn.execute(self._q[query], params)
            if changed and _error is not None:
                status, message, traceback = _error
                conn.execute(self._q["execution_error_insert"], {
                    "execution_id": execution_id, "status": str(status),
                    "error_message": message, "traceback": traceback, "now": now})
            if changed and _notify_channel:
                self._notify(conn, _notify_channel, "")
            return changed

        if not self._write(work):
            raise LeaseLostError(execution_id)

    def execution_renew_leases(self, worker_id: str, held: Mapping[int, str],
                               lease_seconds: float,
                               now: datetime | None = None) -> LeaseRenewal:
        """Extend the leases of everything `worker_id` runs; report lost and cancelled.

        `held` maps each execution id the worker runs to its lease token.
        """
        def work(conn: Connection) -> list[dict[str, Any]]:
            conn.execute(self._q["execution_renew_leases"], {
                "worker_id": worker_id, "lease_seconds": float(lease_seconds), "now": now})
            if not held:
                return []
            return conn.fetch_all(self._q["execution_lease_states"], {"ids": list(held)})

        states = {row["id"]: row for row in self._write(work)}
        lost = {eid for eid, token in held.items()
                if eid not in states or states[eid]["status"] != Status.RUNNING.value
                or states[eid]["lease_token"] != token or states[eid]["worker_id"] != worker_id}
        cancel = {eid for eid, row in states.items() if row["cancel_requested"]} - lost
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
            if conn.execute(self._q["execution_requeue"], {"id": execution_id, "now": now}):
                self._notify(conn, EXECUTIONS_CHANNEL, "")
                return
            row = conn.fetch_one(self._q["execution_get"], {"id": execution_id})
            if row is None:
                raise ExecutionNotFoundError(f"no execution with id {execution_id}")
            raise InvalidStateError(
                f"execution {execution_id} is {row['status']}; only a finished one can be retried")
        self._write(work)
        return self.execution_get(execution_id)

    def execution_prune(self, status: Status, older_than_days: int, *, batch_size: int = 1000,
                        now: datetime | None = None) -> int:
        """Delete up to `batch_size` executions in `status` finished over N days ago."""
        return self._write(lambda c: c.execute(self._q["execution_prune"], {
            "status": str(status), "days": int(older_than_days), "limit": batch_size,
            "now": now}))

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

    # --- plumbing ----------------------------------------------------------------

    def _read(self, work):
        return self.database.run(work, write=False)

    def _write(self, work):
        return self.database.run(work, write=True)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
