"""`jobu db recover`: finish the two-phase transactions a crash left prepared.

The recovery itself, here and at the start of `jobu worker` and `jobu run`, is
jobu.operations.recovery's; this module reads the option and prints the report.
"""

from __future__ import annotations

import argparse
import sys

from jobu.cli.context import Context
from jobu.cli.output import print_json
from jobu.db import RecoveryReport
from jobu.operations.recovery import DEFAULT_MIN_AGE_SECONDS, recover_all


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
                    "prepare. `jobu worker` and `jobu run` do the same when they start. "
                    "Exits 0 when nothing is left in doubt, 1 when something is (too young, "
                    "or a database did not answer): run it again later.")
    recover.add_argument("--min-age", type=float, default=DEFAULT_MIN_AGE_SECONDS,
                         metavar="SECONDS",
                         help="leave alone transactions younger than this, whose worker may "
                              "still be finishing them (default %(default)g; 0 when no worker "
                              "runs)")
    recover.add_argument("--json", action="store_true", help="print JSON for scripts")
    recover.set_defaults(func=cmd_recover)


def cmd_recover(ctx: Context) -> int:
    report, checked = recover_all(ctx.config, ctx.store, min_age_seconds=ctx.args.min_age,
                                  min_age_name="--min-age")
    if ctx.json:
        print_json(report)
    else:
        _print_report(report, checked)
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

