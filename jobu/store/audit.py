"""The store's part in jobu-admin's audit log: who did what, when and from where.

Mixed into :class:`jobu.store.Store`, whose `_q`, `_time`, `_read` and `_write` it uses (the
queries are in ``sql/<dialect>/queries.sql``, named audit_*). Rows are written with the
database's clock (`now` None), like every other time jobu stores, so that the sign-in rate
limit counts alike on every host and in every gunicorn worker process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from jobu.db import Connection


@dataclasses.dataclass(frozen=True)
class NewAuditEntry:
    """What one audit row says, before the database gives it an id and a time."""

    actor: str
    action: str
    source: str
    target: str | None = None
    address: str | None = None
    detail: str | None = None


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    """One row of audit_log."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    source: str
    address: str | None
    detail: str | None


class AuditMethods:
    """Store methods named audit_*: jobu-admin's audit log."""

    _q: dict[str, str]
    _time: Callable[[Any], datetime | None]
    _read: Callable[..., Any]
    _write: Callable[..., Any]

    def audit_record(self, entry: NewAuditEntry, now: datetime | None = None) -> int:
        """Write one audit row (at the database's time unless `now` is given); its id."""
        return int(self._write(lambda c: c.insert(self._q["audit_insert"], {
            **dataclasses.asdict(entry), "now": now})))

    def audit_list(self, *, actor: str | None = None, action: str | None = None,
                   target: str | None = None, before_id: int | None = None,
                   limit: int = 50) -> list[AuditEntry]:
        """Audit rows newest first, older than `before_id` when given; None filters nothing."""
        found = self._read(lambda c: c.fetch_all(self._q["audit_list"], {
            "actor": actor, "action": action, "target": target, "before_id": before_id,
            "limit": int(limit)}))
        return [self._audit_entry(row) for row in found]

    def audit_recent(self, action: str, *, target: str | None = None,
                     address: str | None = None, window_seconds: float, count: int,
                     now: datetime | None = None) -> datetime | None:
        """The time of the `count`-th newest `action` row about `target` (or from `address`)
        in the last `window_seconds`; None when there are fewer than `count` of them.

        Once that row leaves the window, fewer than `count` remain: the caller knows both
        whether a limit is reached and when it will no longer be.
        """
        if (target is None) == (address is None):
            raise ValueError("audit_recent counts by target or by address, one of them")
        name, key = (("audit_recent_for_target", {"target": target}) if target is not None
                     else ("audit_recent_for_address", {"address": address}))

        def work(conn: Connection) -> Any:
            return conn.fetch_value(self._q[name], {
                **key, "action": action, "window_seconds": float(window_seconds),
                "offset": max(0, int(count) - 1), "now": now})
        return self._time(self._read(work))

    def audit_prune(self, days: int, *, batch_size: int = 1000,
                    now: datetime | None = None) -> int:
        """Delete up to `batch_size` audit rows written over `days` days ago; how many."""
        return self._write(lambda c: c.execute(self._q["audit_prune"], {
            "days": int(days), "limit": int(batch_size), "now": now}))

    def _audit_entry(self, row: Mapping[str, Any]) -> AuditEntry:
        return AuditEntry(
            id=int(row["id"]), at=self._time(row["at"]), actor=row["actor"],
            action=row["action"], target=row["target"], source=row["source"],
            address=row["address"], detail=row["detail"])
