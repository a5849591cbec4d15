"""`jobu admin …`: serve the web admin under gunicorn, and manage the people who sign in to it.

`serve` reads admin.yaml (a bad one exits 78 before anything binds) and runs gunicorn
in this process; the admin package (and Flask, gunicorn) is needed only by `serve`.
`user add|passwd|remove|list|token` call jobu.operations.users. A password is asked
twice on a terminal, or read as one line from standard input (for scripts:
`printf '%s\\n' "$PASSWORD" | jobu admin user add ops --role operator`).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from jobu.cli.context import Context
from jobu.cli.output import print_json, print_table, when
from jobu.config import ADMIN_FILE
from jobu.errors import InvalidInputError
from jobu.operations import users

ROLES_HELP = ("viewer reads every page and the API; operator also runs crons now, retries, "
              "cancels, enables and disables; admin also adds, edits and removes crons")


def register(commands: argparse._SubParsersAction) -> None:
    admin = commands.add_parser("admin", help="the web admin: serve it, manage its users",
                                description="Serve the web admin and manage who may sign in.")
    sub = admin.add_subparsers(dest="admin_command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", help="serve the admin under gunicorn (admin.yaml)",
                           description="Serve the admin under gunicorn with admin.yaml's bind, "
                                       "workers, threads and timeouts, until SIGTERM. A bad "
                                       "admin.yaml exits 78.")
    serve.add_argument("--bind", metavar="ADDR",
                       help="host:port or unix:/path, instead of admin.yaml's bind")
    serve.set_defaults(func=cmd_serve, secrets_of=(ADMIN_FILE,))

    user = sub.add_parser("user", help="manage the admin's users",
                          description=f"Users of the admin and their roles: {ROLES_HELP}.")
    actions = user.add_subparsers(dest="user_command", metavar="COMMAND", required=True)
    add = actions.add_parser("add", help="add a user (asks for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in users.Role],
                     help=ROLES_HELP)
    add.set_defaults(func=cmd_user_add)
    passwd = actions.add_parser("passwd", help="set a user's password (asks for it)")
    passwd.add_argument("name")
    passwd.set_defaults(func=cmd_user_passwd)
    remove = actions.add_parser("remove", help="remove a user (their sessions end at once)")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_user_remove)
    listing = actions.add_parser("list", help="list the users and their roles")
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    listing.set_defaults(func=cmd_user_list)
    token = actions.add_parser(
        "token", help="make a new API token for a user (printed once)",
        description="Make a new API token for the user, replacing the previous one, and "
                    "print it once: jobu keeps only its hash. Send it as "
                    "`Authorization: Bearer TOKEN` to /api/v1.")
    token.add_argument("name")
    token.set_defaults(func=cmd_user_token)


def cmd_serve(ctx: Context) -> int:
    config = ctx.config  # read and checked before gunicorn starts: a bad file exits 78
    from jobu.admin.serve import serve
    serve(config.admin, config.config_dir, bind=ctx.args.bind)
    return 0


def read_password() -> str:
    """The new password: asked twice on a terminal, else one line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise InvalidInputError("the two passwords differ; nothing was changed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user_add(ctx: Context) -> int:
    user = users.add_user(ctx.store, ctx.args.name, read_password(), ctx.args.role)
    print(f"added {user.name} ({user.role})")
    return 0


def cmd_user_passwd(ctx: Context) -> int:
    users.change_password(ctx.store, ctx.args.name, read_password())
    print(f"password of {ctx.args.name} changed")
    return 0


def cmd_user_remove(ctx: Context) -> int:
    users.remove_user(ctx.store, ctx.args.name)
    print(f"removed {ctx.args.name}")
    return 0


def cmd_user_list(ctx: Context) -> int:
    found = users.list_users(ctx.store)
    if ctx.json:
        print_json([vars(user) for user in found])
        return 0
    if not found:
        print("no users; add the first with: jobu admin user add NAME --role admin")
        return 0
    print_table(["NAME", "ROLE", "API TOKEN", "CREATED"],
                [[u.name, u.role.value, "yes" if u.has_api_token else "no", when(u.created_at)]
                 for u in found])
    return 0


def cmd_user_token(ctx: Context) -> int:
    print(users.issue_api_token(ctx.store, ctx.args.name))
    return 0
