"""`jobu migrate` and `jobu check-config`: getting a host ready."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

from jobu.cli.context import Context
from jobu.cli.output import plain, print_json
from jobu.cli.worker import load_handlers
from jobu.config import SECRET_FILES, Config, CronFiles, describe_config
from jobu.db.capability import probe_specs
from jobu.errors import ConfigError


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
        description="Load every file of the configuration directory, crons.yaml and "
                    "crons.d/*.yaml included (every schedule parsed). Prints what was loaded, "
                    "or every problem found, naming file and key (and its line, in the cron "
                    "files); exits 78 on a problem. A cron whose handler worker.yaml's "
                    "handlers do not define is warned about on stderr, not refused: a worker "
                    "on another host may serve it; so is a key this release no longer reads. Then "
                    "asks each PostgreSQL and MySQL/MariaDB database whether it can take part "
                    "in a two-phase commit (two_phase_commit:); SQLite never can.")
    check.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    check.set_defaults(func=cmd_check_config, with_crons=True, secrets_of=SECRET_FILES)


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
    for notice in config.notices:
        print(f"jobu: warning: {notice}", file=sys.stderr)
    described = describe_config(config)
    if config.crons is not None:
        described["crons"] = _described_crons(config.crons)
        _warn_unknown_handlers(config)
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


def _described_crons(files: CronFiles) -> dict[str, Any]:
    """The cron files read and their crons by name, each with the file that declares it."""
    crons = {}
    for declared in files.crons:
        fields = plain(declared.spec)
        del fields["name"]
        crons[declared.spec.name] = {**fields, "file": declared.source}
    return {"files": list(files.paths), "crons": crons}


def _warn_unknown_handlers(config: Config) -> None:
    """Warn (on stderr) of each cron whose handler worker.yaml's handlers lack."""
    if config.crons is None or not config.crons.crons:
        return
    try:
        known = set(load_handlers(config).names())
    except ConfigError as error:
        print(f"jobu: warning: the handlers of worker.yaml could not be loaded, so the "
              f"crons' handlers were not checked: {error}", file=sys.stderr)
        return
    for declared in config.crons.crons:
        name = declared.spec.handler_name
        if name not in known:
            print(f"jobu: warning: {declared.source}: crons.{declared.spec.name}.handler: no "
                  f"handler named {name!r} in worker.yaml's handler_paths and handler_modules "
                  f"(known: {', '.join(sorted(known))}); a worker that serves it must run "
                  "somewhere", file=sys.stderr)
