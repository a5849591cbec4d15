"""`jobu init DIR`: a new handler project, ready for `jobu run --config-dir DIR/etc/jobu`.

The project holds handlers/ with two example handlers, etc/jobu/ pointing at them and at SQLite
databases in the project's var/, crons.yaml with an example cron, a README.md and tests/ with a
pytest test per handler (jobu.testing). jobu's own database in var/ is migrated, so that
`jobu run` starts at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from string import Template

from jobu.cli.context import Context
from jobu.cli.project_template import TEMPLATES
from jobu.config import load_config
from jobu.errors import InvalidInputError, InvalidStateError
from jobu.store import open_store


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "init", help="create a handler project: handlers, configuration, crons and tests",
        description="Create a handler project in DIR: handlers/ with two example handlers, "
                    "etc/jobu/ (SQLite databases in DIR/var, the handlers' path, crons.yaml "
                    "with an example cron), a README.md, and tests/ with a pytest test per "
                    "handler using jobu.testing. Then `jobu run --config-dir DIR/etc/jobu` runs "
                    "the example cron, and `python3 -m pytest` in DIR runs the tests.")
    parser.add_argument("directory", metavar="DIR", help="the project's directory (created if "
                                                         "missing)")
    parser.add_argument("--template", choices=sorted(TEMPLATES), default="example",
                        help="what the project starts with (default example)")
    parser.add_argument("--force", action="store_true",
                        help="write into DIR even if it is not empty (files of the template "
                             "that exist are overwritten; others are left alone)")
    parser.set_defaults(func=cmd_init)


def cmd_init(ctx: Context) -> int:
    project = Path(ctx.args.directory).absolute()
    if project.exists() and not project.is_dir():
        raise InvalidInputError(f"{project} is a file; give a directory for the project")
    if project.is_dir() and any(project.iterdir()) and not ctx.args.force:
        raise InvalidStateError(f"{project} is not empty; choose a new directory, or pass "
                                "--force to write the project's files into it")
    written = write_project(project, ctx.args.template)
    config = load_config(project / "etc" / "jobu", environ={})
    store = open_store(config.jobs_database)
    try:
        store.migrate()
    finally:
        store.close()
    print(f"created the {ctx.args.template} project in {project} ({len(written)} files)")
    print(f"  run its tests:  cd {project} && python3 -m pytest")
    print(f"  run jobu:       jobu run --config-dir {project / 'etc' / 'jobu'}")
    return 0


def write_project(project: Path, template: str) -> list[Path]:
    """Write the template's files under `project`, and its empty var/; the files written."""
    written = []
    for relative, text in TEMPLATES[template].items():
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(project=project), encoding="utf-8")
        written.append(path)
    (project / "var").mkdir(exist_ok=True)
    return written
