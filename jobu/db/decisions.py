"""The two-phase commit decision log: what it records and how transactions are named.

A transaction over several databases gets a transaction id (`txid`) and, on each
database, a branch with its own global id (`gid`)::

    jobu:<log id>:<txid>:<branch number>      e.g. jobu:5f0c9a1e:18c2b4f9a3e7d01c2e4a9:1

* ``jobu`` says the prepared transaction is jobu's;
* the log id names the decision log (one per jobs database), so that two jobu
  installations sharing a database server never resolve each other's branches;
* the txid starts with the coordinator's clock in milliseconds (hex), which
  gives recovery the age of a branch on any database (MySQL's XA RECOVER tells
  no time); random digits make it unique;
* the branch number keeps gids distinct when two participants are databases of
  one PostgreSQL cluster, where gids must be unique cluster-wide.

At most 38 characters: MySQL allows 64 for an XA gtrid.

The log itself lives in the jobs database (jobu.store implements
:class:`DecisionLog`), and records a decision per txid: ``commit``, written by
the coordinator once every branch is prepared — the decision point — or
``rollback``, written by recovery for a branch that has no decision and is old
enough to be abandoned. The first one written wins; that race decides, not
timing.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

COMMIT = "commit"
ROLLBACK = "rollback"
GID_PATTERN = re.compile(r"^jobu:(?P<log>[0-9a-f]{8}):(?P<txid>[0-9a-f]{21}):(?P<branch>\d{1,3})$")


@dataclass(frozen=True)
class Branch:
    """One participant's part of a transaction: its database (by name) and gid."""

    database: str
    gid: str


@dataclass(frozen=True)
class Decision:
    """A recorded outcome. `done_at` is set once no branch of it is left in doubt."""

    txid: str
    outcome: str
    branches: tuple[Branch, ...]
    decided_at: datetime | None = None
    done_at: datetime | None = None


class DecisionLog(Protocol):
    """What the commit protocol and recovery need from the jobs database (jobu.store.Store).

    Each method is one short transaction of its own, committed before it returns:
    the coordinator relies on `decision_record` being durable when it returns.
    """

    #: The jobs database the log is kept in.
    database: Any

    def decision_log_id(self) -> str:
        """This log's id (8 hex digits), part of every gid it decides for."""

    def decision_record(self, txid: str, outcome: str,
                        branches: Sequence[Branch]) -> Decision:
        """Record `outcome` for `txid` unless one is recorded; return the one in force."""

    def decision_get(self, txid: str) -> Decision | None:
        """The decision for `txid`, or None."""

    def decision_revoke(self, txid: str) -> bool:
        """Turn a commit not yet done into a rollback; True if it was turned."""

    def decision_mark_done(self, txid: str) -> None:
        """Note that no branch of `txid` is in doubt any more."""

    def decision_list_pending(self, limit: int = 500) -> list[Decision]:
        """Decisions not done yet, oldest first."""

    def decision_prune(self, older_than_days: int) -> int:
        """Delete done decisions older than that; return how many."""


def new_txid(now: float | None = None) -> str:
    """A transaction id: the time in milliseconds (11 hex digits), then 10 random ones."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"{millis:011x}{secrets.token_hex(5)}"


def branch_gid(log_id: str, txid: str, branch: int) -> str:
    return f"jobu:{log_id}:{txid}:{branch}"


def parse_gid(gid: str) -> tuple[str, str] | None:
    """(log id, txid) of a gid jobu made, or None for anyone else's."""
    match = GID_PATTERN.match(gid)
    return (match.group("log"), match.group("txid")) if match else None


def txid_age_seconds(txid: str, now: float | None = None) -> float:
    """How long ago the coordinator began `txid`, by this host's clock."""
    begun = int(txid[:11], 16) / 1000
    return (time.time() if now is None else now) - begun
