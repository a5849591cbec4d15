"""jobu-admin's audit log: record who did what, read it back, limit sign-in attempts, prune.

The admin records one row after each change it made (a cron added, a job retried…) and at
each sign-in, failed sign-in and sign-out. The sign-in rate limit counts the failed sign-ins
of this table rather than a counter in memory, so it holds across gunicorn's worker processes
and across hosts that share the jobs database.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from jobu.errors import InvalidInputError
from jobu.store import Store
from jobu.store.audit import AuditEntry, NewAuditEntry

__all__ = ["ANONYMOUS", "SIGN_IN", "SIGN_IN_FAILED", "SIGN_IN_LIMITED", "SIGN_OUT", "AuditEntry",
           "AuditPage", "list_audit", "prune_audit", "record", "sign_in_retry_after"]

#: The actor of a row written while nobody was signed in (a failed sign-in).
ANONYMOUS = "-"
SIGN_IN = "user.sign_in"
#: A wrong name or password; the name tried is the row's target.
SIGN_IN_FAILED = "user.sign_in_failed"
#: A sign-in refused unchecked because too many failed before it; not counted as a failure,
#: so that a flood of refused attempts does not keep a user locked out for ever.
SIGN_IN_LIMITED = "user.sign_in_limited"
SIGN_OUT = "user.sign_out"

#: The widths of audit_log's columns: longer values are cut, since a row that cannot be
#: written must not undo the change it records.
_WIDTHS = {"actor": 200, "action": 64, "target": 255, "source": 16, "address": 64,
           "detail": 1000}


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit log, newest first; pass `next_cursor` as `before_id`."""

    items: list[AuditEntry]
    next_cursor: int | None


def _cut(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    width = _WIDTHS[name]
    return value if len(value) <= width else value[:width - 1] + "…"


def record(store: Store, *, actor: str | None, action: str, source: str,
           target: str | None = None, address: str | None = None, detail: str | None = None,
           now: datetime | None = None) -> int:
    """Write one audit row, at the database's time (or `now`); its id.

    `actor` None is written as ANONYMOUS; `source` is where it was done ("admin" for a page,
    "api"); `address` the client's address as the request saw it.
    """
    entry = NewAuditEntry(
        actor=_cut("actor", actor or ANONYMOUS), action=_cut("action", action),
        source=_cut("source", source), target=_cut("target", target),
        address=_cut("address", address), detail=_cut("detail", detail))
    return store.audit_record(entry, now=now)


def list_audit(store: Store, *, actor: str | None = None, action: str | None = None,
               target: str | None = None, before_id: int | None = None,
               limit: int = 50) -> AuditPage:
    """One page of the audit log, newest first, of the rows matching every filter given."""
    if limit < 1:
        raise InvalidInputError(f"limit must be at least 1, got {limit}")
    if before_id is not None and before_id < 1:
        raise InvalidInputError(f"before must be an audit row's id, got {before_id}")
    found = store.audit_list(actor=actor or None, action=action or None, target=target or None,
                             before_id=before_id, limit=limit + 1)
    items = found[:limit]
    return AuditPage(items, items[-1].id if len(found) > limit else None)


def sign_in_retry_after(store: Store, *, name: str, address: str | None, attempts: int,
                        window_seconds: float, now: datetime | None = None) -> int | None:
    """Whether a sign-in must be refused unchecked: None when it may be tried, else the
    whole seconds until it may (at least 1).

    It is refused when `attempts` sign-ins failed for the user `name`, or from `address`, in
    the last `window_seconds`. It may be tried again once the newest `attempts` of those
    failures no longer all fall in the window. A successful sign-in counts nothing down: a
    user signing in from the address of someone else's failures does not free them.
    """
    limits = [store.audit_recent(SIGN_IN_FAILED, target=name, window_seconds=window_seconds,
                                 count=attempts, now=now)]
    if address:
        limits.append(store.audit_recent(SIGN_IN_FAILED, address=address,
                                         window_seconds=window_seconds, count=attempts,
                                         now=now))
    reached = [at for at in limits if at is not None]
    if not reached:
        return None
    current = now or store.database_now()
    free_at = max(reached).timestamp() + window_seconds
    return max(1, math.ceil(free_at - current.timestamp()))


def prune_audit(store: Store, days: int, *, batch_size: int = 1000,
                now: datetime | None = None) -> Iterator[int]:
    """Delete the audit rows written over `days` days ago, `batch_size` per transaction;
    yields how many each transaction deleted (so a caller can pause between them)."""
    if days < 1:
        raise InvalidInputError(f"audit rows are kept at least 1 day, got {days}")
    while True:
        deleted = store.audit_prune(days, batch_size=batch_size, now=now)
        yield deleted
        if deleted < batch_size:
            return
