"""Two-phase recovery: finish the transactions a crash left prepared on handlers' databases.

At the start of every daemon that runs handlers (`jobu worker`, `jobu run`), on the
databases it gives its handlers, and on demand (`jobu db recover`) on every
database of database.yaml. The work itself is jobu.db.recovery's; this module
decides which databases, and says what it found.
"""

from __future__ import annotations

import logging

from jobu.config import Config
from jobu.db import Database, DatabaseRegistry, RecoveryReport, recover_in_doubt
from jobu.db.capability import capability_of
from jobu.db.recovery import DEFAULT_MIN_AGE_SECONDS
from jobu.errors import DatabaseError, InvalidInputError
from jobu.store import Store

__all__ = ["DEFAULT_MIN_AGE_SECONDS", "recover_all", "recover_at_daemon_start"]

log = logging.getLogger("jobu.worker")


def recover_all(config: Config, store: Store, *, min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS,
                min_age_name: str = "min_age_seconds") -> tuple[RecoveryReport, list[str]]:
    """Resolve in-doubt transactions on every database of database.yaml.

    Returns the report and the names of the databases checked. Transactions younger
    than `min_age_seconds` are left alone: their worker may still be finishing them.
    """
    if min_age_seconds < 0:
        raise InvalidInputError(f"{min_age_name} must be 0 or more, got {min_age_seconds:g}")
    registry = DatabaseRegistry(config.databases)
    try:
        databases = [registry.get(name) for name in registry.specs]
        report = recover_in_doubt(databases, store, min_age_seconds=min_age_seconds)
    finally:
        registry.close()
    return report, [d.name for d in databases]


def recover_at_daemon_start(config: Config, store: Store) -> None:
    """Log each handler database's two-phase capability, then resolve in-doubt transactions.

    Run before a daemon's first claim: a crash of its predecessor may have left
    transactions prepared, holding locks the handlers about to run would wait on.
    Never stops the start: a database that does not answer is logged, and the
    handlers that need it fail on their own; the jobs database's own problems
    are the daemon's to report.
    """
    registry = DatabaseRegistry(config.databases, config.worker.databases)
    try:
        databases = [registry.get(name) for name in registry.specs]
        reachable = _log_capabilities(databases, config.allow_best_effort_multi_commit)
        if not any(d.dialect.supports_two_phase for d in reachable):
            return
        try:
            report = recover_in_doubt(reachable, store)
        except DatabaseError as exc:
            log.warning("two-phase recovery skipped: the decision log cannot be read (%s)", exc)
            return
    finally:
        registry.close()
    for left in report.left:
        log.warning("in-doubt transaction %s on %s left: %s; `jobu db recover` resolves it "
                    "later", left.gid, left.database, left.reason)
    if report.resolved:
        log.info("two-phase recovery: %d in-doubt branches resolved", len(report.resolved))


def _log_capabilities(databases: list[Database], best_effort: bool) -> list[Database]:
    """Log what each database can do; return those that answered."""
    reachable, one_phase = [], []
    for database in databases:
        capability = capability_of(database)
        if capability.can_prepare is None:
            log.warning("database %s: %s", database.name, capability.why)
            continue
        reachable.append(database)
        if not capability.can_prepare:
            one_phase.append(database.name)
        log.info("database %s %s prepare transactions for two-phase commit: %s", database.name,
                 "can" if capability.can_prepare else "cannot", capability.why)
    if len(one_phase) > 1 and not best_effort:
        log.warning("databases %s cannot prepare: a transaction that writes to two of them is "
                    "refused (database.yaml allow_best_effort_multi_commit is false)",
                    ", ".join(one_phase))
    return reachable
