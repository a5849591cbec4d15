"""jobu's own tables (crons, executions, workers) in one SQL database.

``open_store(spec)`` connects lazily and returns a :class:`Store`, whose methods
are the whole persistent vocabulary of jobu. SQL lives in ``sql/<dialect>/``.
"""

from __future__ import annotations

from jobu.db import open_database
from jobu.model import DatabaseSpec
from jobu.store.store import (
    ClaimRequest,
    CronOutlook,
    FinishedAttempt,
    FinishReport,
    LeaseRenewal,
    Rescue,
    Store,
    TickRecord,
)

__all__ = ["ClaimRequest", "CronOutlook", "FinishReport", "FinishedAttempt", "LeaseRenewal",
           "Rescue", "Store", "TickRecord", "open_store"]


def open_store(spec: DatabaseSpec) -> Store:
    """A Store on the database `spec` describes; nothing connects until first use."""
    return Store(open_database(spec))
