"""`jobu db recover`, and what the worker does with handlers' databases as it starts.

Both resolve two-phase transactions that a crash left prepared (jobu.db.recovery):
the worker on the databases it gives its handlers, the command on every database
of database.yaml. The worker also says, once, which of its databases can take
part in a two-phase commit, and warns when a transaction over two of the others
would be refused.
"""

from __future__ import annotations

import argparse
import logging
import sys

from jobu.cli.context import Context
from jobu.cli.output import print_json
from jobu.config import Config
from jobu.db import Database, DatabaseRegistry, RecoveryReport, recover_in_doubt
from jobu.db.capability import capability_of
from jobu.db.recovery import DEFAULT_MIN_AGE_SECONDS
from jobu.errors import DatabaseError, InvalidInputError
from jobu.store import Store

log = logging.getLogger("jobu.worker")


def register(commands: argparse._SubParsersAction) -> None:
    db = commands.add_parser("db", help="handlers' databases: two-phase commit recovery",
                             description="Tools for the databases of database.yaml that "
                                         "handlers use.")
    sub = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    recover = sub.add_parser(
        "recover", help="commit or roll back transactions a crash left prepared",
        description="A worker that dies in the middle of a two-phase commit leaves its "
                    "transaction prepared (in doubt) on some databases, holding its locks. "
                    "This commits each one whose commit decision the jobs database recorded, "
                    "and rolls back the others, on every database of database.yaml that can "
                    "prepare. Workers do the same when they start. Exits 0 when nothing is "
                    "left in doubt, 1 when something is (too young, or a database did not "
                    "answer): run it again later.")
    recover.add_argument("--min-age", type=float, default=DEFAULT_MIN_AGE_SECONDS,
                         metavar="SECONDS",
                         help="leave alone transactions younger than this, whose worker may "
                              "still be finishing them (default %(default)g; 0 when no worker "
                              "runs)")
    recover.add_argument("--json", action="store_true", help="print JSON for scripts")
    recover.set_defaults(func=cmd_recover)


def cmd_recover(ctx: Context) -> int:
    if ctx.args.min_age < 0:
        raise InvalidInputError(f"--min-age must be 0 or more, got {ctx.args.min_age:g}")
    registry = DatabaseRegistry(ctx.config.databases)
    try:
        databases = [registry.get(name) for name in registry.specs]
        report = recover_in_doubt(databases, ctx.store, min_age_seconds=ctx.args.min_age)
    finally:
        registry.close()
    if ctx.json:
        print_json(report)
    else:
        _print_report(report, [d.name for d in databases])
    return 0 if report.complete else 1


def _print_report(report: RecoveryReport, checked: list[str]) -> None:
    for done in report.resolved:
        print(f"{done.database}: {done.action} {done.gid} ({done.reason})")
    for left in report.left:
        print(f"{left.database}: left {left.gid} in doubt: {left.reason}")
    for name, error in report.unreachable.items():
        print(f"{name}: not checked: {error}", file=sys.stderr)
    asked = [name for name in checked
             if name not in report.not_two_phase and name not in report.unreachable]
    if not report.resolved and not report.left:
        what = f"nothing in doubt on {', '.join(asked)}" if asked else \
            "no database here can prepare a transaction; nothing to recover"
        print(what)
    if report.not_two_phase and asked:
        print(f"({', '.join(report.not_two_phase)}: cannot prepare a transaction, so nothing "
              "is in doubt there)")


def recover_at_worker_start(config: Config, store: Store) -> None:
    """Log each handler database's two-phase capability, then resolve in-doubt transactions.

    Never stops the start: a database that does not answer is logged, and the
    handlers that need it fail on their own; the jobs database's own problems
    are the worker's to report.
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
