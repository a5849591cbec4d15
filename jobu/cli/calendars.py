"""`jobu calendar …`: add, import, list, show, remove business calendars.

A calendar that calendars.yaml (or calendars.d/*.yaml) declares is changed there: add,
import and remove refuse it, naming the file (jobu.operations.calendars).
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from jobu.calendars import parse_day, weekend_text
from jobu.cli.context import Context
from jobu.cli.output import print_fields, print_json, print_table
from jobu.errors import InvalidInputError
from jobu.operations import calendars as operations


def register(commands: argparse._SubParsersAction) -> None:
    calendar = commands.add_parser(
        "calendar", help="manage business calendars (holidays, weekends)",
        description="Named calendars of non-working days. A cron follows one with "
                    "--calendar NAME (and --on-holiday), or with a business-day schedule "
                    "such as 'bd -1 18:00'. Calendars may also be declared in "
                    "calendars.yaml (and calendars.d/*.yaml), which the dispatcher applies at "
                    "start and on reload; add, import and remove refuse those.")
    sub = calendar.add_subparsers(dest="calendar_command", metavar="COMMAND", required=True)

    add = sub.add_parser("add", help="add a calendar, or change one",
                         description="Add a calendar, or change the fields given of one. "
                                     "--country fills it with a country's public holidays "
                                     "(needs Python's holidays package: python3-holidays).")
    add.add_argument("name")
    add.add_argument("--day", action="append", default=[], metavar="DATE[=NAME]",
                     help="a holiday, e.g. 2026-09-25=Chuseok (repeat the option)")
    add.add_argument("--country", metavar="CODE", help="ISO 3166 country code, e.g. KR, DE")
    add.add_argument("--subdivision", metavar="CODE", help="with --country: a state or "
                                                           "province, e.g. BY")
    add.add_argument("--years", metavar="FROM-TO", help="with --country: e.g. 2026-2030")
    add.add_argument("--weekend", metavar="DAYS",
                     help="weekly non-working days, e.g. sat,sun (the default), fri,sat "
                          "or none")
    add.add_argument("--timezone", metavar="TZ",
                     help="the zone whose dates the days are (default: each cron's own)")
    add.add_argument("--description", metavar="TEXT")
    add.add_argument("--replace", action="store_true",
                     help="the days given replace the stored ones (default: added to them)")
    add.set_defaults(func=cmd_add)

    imports = sub.add_parser("import", help="add the days of a file to a calendar",
                             description="Add the days of an iCalendar file (all-day "
                                         "events), a YAML file (2026-01-01: New Year) or a "
                                         "CSV file (date,name) to a calendar, creating it.")
    imports.add_argument("name")
    imports.add_argument("file", help="an .ics, .yaml, .yml or .csv file")
    imports.add_argument("--replace", action="store_true",
                         help="the file's days replace the stored ones")
    imports.set_defaults(func=cmd_import)

    listing = sub.add_parser("list", help="list the calendars")
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    listing.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help="show a calendar and its days")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print JSON for scripts")
    show.set_defaults(func=cmd_show)

    remove = sub.add_parser("remove", help="remove a calendar that no cron uses")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_remove)


def cmd_add(ctx: Context) -> int:
    args = ctx.args
    calendar = operations.add_calendar(
        ctx.store, args.name, days=dict(_day_option(text) for text in args.day),
        weekend=args.weekend, timezone=args.timezone, description=args.description,
        country=args.country, years=args.years, subdivision=args.subdivision,
        replace_days=args.replace)
    print(f"calendar {calendar.name}: {len(calendar.holidays)} holidays, weekend "
          f"{weekend_text(calendar.weekend)}")
    return 0


def cmd_import(ctx: Context) -> int:
    path = Path(ctx.args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInputError(f"cannot read {path}: {error.strerror}") from None
    calendar = operations.import_days(ctx.store, ctx.args.name, text, path.name,
                                      replace_days=ctx.args.replace)
    print(f"calendar {calendar.name}: {len(calendar.holidays)} holidays after importing "
          f"{path.name}")
    return 0


def cmd_list(ctx: Context) -> int:
    found = operations.list_calendars(ctx.store)
    if ctx.args.json:
        print_json(found)
        return 0
    print_table(["NAME", "HOLIDAYS", "FROM", "TO", "WEEKEND", "TIMEZONE", "DESCRIPTION"],
                [[c["name"], c["day_count"], c["first_day"] or "-", c["last_day"] or "-",
                  c["weekend"], c["timezone"] or "(each cron's)", c["description"]]
                 for c in found])
    return 0


def cmd_show(ctx: Context) -> int:
    calendar = operations.show_calendar(ctx.store, ctx.args.name)
    managed_by = operations.calendar_managed_by(ctx.store, calendar.name)
    days = [{"date": day.isoformat(), "name": name}
            for day, name in sorted(calendar.holidays.items())]
    if ctx.args.json:
        print_json({"name": calendar.name, "description": calendar.description,
                    "timezone": calendar.timezone, "weekend": weekend_text(calendar.weekend),
                    "version": calendar.version, "managed_by": managed_by, "holidays": days})
        return 0
    print_fields([("name", calendar.name), ("description", calendar.description or "-"),
                  ("timezone", calendar.timezone or "(each cron's own)"),
                  ("weekend", weekend_text(calendar.weekend)),
                  ("managed by", managed_by or "-"),
                  ("holidays", len(days))])
    for day in days:
        print(f"  {day['date']}  {day['name']}")
    return 0


def cmd_remove(ctx: Context) -> int:
    operations.remove_calendar(ctx.store, ctx.args.name)
    print(f"removed calendar {ctx.args.name}")
    return 0


def _day_option(text: str) -> tuple[date, str]:
    day, _, name = text.partition("=")
    return parse_day(day, f"--day {text!r}"), name.strip() or "holiday"
