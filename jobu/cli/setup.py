"""`jobu migrate` and `jobu check-config`: getting a host ready."""

from __future__ import annotations

import argparse

import yaml

from jobu.cli.context import Context
from jobu.cli.output import plain, print_json
from jobu.config import describe_config
from jobu.db.capability import probe_specs


def register(commands: argparse._SubParsersAction) -> None:
    migrate = commands.add_parser(
        "migrate", help="create or upgrade jobu's tables in the jobs database",
        description="Apply the schema migrations the jobs database lacks. Idempotent, and "
                    "safe to run from several hosts at the same moment.")
    migrate.add_argument("--dry-run", action="store_true",
                         help="list what would be applied, change nothing")
    migrate.set_defaults(func=cmd_migrate)

    check = commands.add_parser(
        "check-config", help="validate the configuration and print it (secrets masked)",
        description="Load every file of the configuration directory. Prints what was loaded, "
                    "or every problem found, naming file and key; exits 78 on a problem. Then "
                    "asks each PostgreSQL and MySQL/MariaDB database whether it can take part "
                    "in a two-phase commit (two_phase_commit:); SQLite never can.")
    check.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    check.set_defaults(func=cmd_check_config)


def cmd_migrate(ctx: Context) -> int:
    store = ctx.store
    where = store.database.spec.describe()
    if ctx.args.dry_run:
        pending = store.pending_migrations()
        for migration in pending:
            print(f"would apply {migration.label} ({len(migration.statements)} statements)")
        if not pending:
            print(f"{where}: up to date, nothing to apply")
        return 0
    applied = store.migrate()
    for migration in applied:
        print(f"applied {migration.label}")
    if not applied:
        print(f"{where}: up to date, nothing to apply")
    return 0


def cmd_check_config(ctx: Context) -> int:
    config = ctx.config  # a ConfigError becomes one line per problem and exit 78
    described = describe_config(config)
    # Asked of the servers (briefly, all at once): whether a handler's transaction over several
    # databases can be atomic depends on them (see database.yaml allow_best_effort_multi_commit).
    described["two_phase_commit"] = {
        name: {"can_prepare": capability.can_prepare, "why": capability.why}
        for name, capability in probe_specs(config.databases).items()}
    if ctx.json:
        print_json(described)
    else:
        print(f"# configuration in {config.config_dir} is valid")
        print(yaml.safe_dump(plain(described), sort_keys=False, default_flow_style=False).rstrip())
    return 0
