"""The `jobu` command: the one place that wires configuration, store and daemons together.

Every subcommand is a function of a Context that returns an exit code. jobu's
errors become one line on stderr and the exit code below, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from jobu import __version__
from jobu.cli import admin, crons, dbtools, dispatcher, init, jobs, run, setup, worker
from jobu.cli import calendars as calendars_cli
from jobu.cli import queued as queued_cli
from jobu.cli.context import Context
from jobu.errors import (
    ConfigError,
    DatabaseUnavailableError,
    InvalidInputError,
    JobuError,
    NotFoundError,
    SchemaError,
)

EX_OK = 0
EX_FAILURE = 1  # the operation was refused (e.g. cancelling a finished execution)
EX_USAGE = 2  # the command line is malformed (argparse)
EX_DATAERR = 65  # a value is not valid: cron expression, JSON, time zone, name
EX_NOINPUT = 66  # no such cron or execution
EX_UNAVAILABLE = 69  # the database cannot be reached
EX_SOFTWARE = 70  # the database schema is not what this jobu expects (run `jobu migrate`)
EX_CONFIG = 78  # the configuration is not valid

EXIT_CODES_HELP = """exit codes:
  0   success
  1   the operation was refused (for example, cancelling a finished execution)
  2   the command line is malformed
  65  a value is not valid (cron expression, JSON, time zone, name)
  66  no such cron or execution
  69  the database cannot be reached
  70  the database schema is behind: run `jobu migrate`
  78  the configuration is not valid (EX_CONFIG)

environment:
  JOBU_CONFIG_DIR    configuration directory (default /etc/jobu)
  JOBU_DATABASE_URL  jobs database URL, overriding database.yaml
  JOBU_STATE_DIR     base of relative SQLite paths (default /var/lib/jobu)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobu", description="jobu: cron, event and on-demand jobs over one SQL database.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"jobu {__version__}")
    parser.add_argument("--config-dir", metavar="DIR", help=CONFIG_DIR_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    init.register(commands)
    setup.register(commands)
    crons.register(commands)
    jobs.register(commands)
    dispatcher.register(commands)
    worker.register(commands)
    queued_cli.register(commands)
    calendars_cli.register(commands)
    run.register(commands)
    dbtools.register(commands)
    admin.register(commands)
    _accept_config_dir_anywhere(commands)
    return parser


CONFIG_DIR_HELP = "read the configuration from DIR (env JOBU_CONFIG_DIR; default /etc/jobu)"


def _accept_config_dir_anywhere(commands: argparse._SubParsersAction) -> None:
    """--config-dir after the command too (`jobu run --config-dir DIR`), as people type it.
    SUPPRESS: a command that does not get it keeps the value given before the command."""
    for command in commands.choices.values():
        command.add_argument("--config-dir", metavar="DIR", default=argparse.SUPPRESS,
                             help=CONFIG_DIR_HELP)
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _accept_config_dir_anywhere(action)


def exit_code_for(error: JobuError) -> int:
    if isinstance(error, ConfigError):
        return EX_CONFIG
    if isinstance(error, InvalidInputError | ValueError):
        return EX_DATAERR
    if isinstance(error, NotFoundError):
        return EX_NOINPUT
    if isinstance(error, DatabaseUnavailableError):
        return EX_UNAVAILABLE
    if isinstance(error, SchemaError):
        return EX_SOFTWARE
    return EX_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `jobu` command; returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="jobu: %(message)s")
    # psycopg_pool reports every failed connection attempt itself; jobu says it once.
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    args = build_parser().parse_args(argv)
    ctx = Context(args)
    try:
        return args.func(ctx)
    except ConfigError as error:
        for line in error.problems:
            print(f"jobu: {line}", file=sys.stderr)
        return EX_CONFIG
    except JobuError as error:
        print(f"jobu: {error}", file=sys.stderr)
        return exit_code_for(error)
    except BrokenPipeError:
        return EX_OK  # `jobu jobs list | head`: the reader had enough
    finally:
        ctx.close()
