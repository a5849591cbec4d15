"""`jobu cron …`: add, list, show, edit, enable, disable, remove, run-now, next."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jobu import operations
from jobu.cli.context import Context
from jobu.cli.output import (
    plain,
    print_fields,
    print_json,
    print_table,
    seconds,
    warnings_printed,
    when,
)
from jobu.clock import SystemClock
from jobu.errors import UnservedHandlerWarning
from jobu.model import CatchUp, CronJob, CronSpec, DstRepeat, Isolation
from jobu.operations.crons import CronRules, calendar_of, cron_ticks, spec_of
from jobu.operations.stats import cron_stats
from jobu.validation import MAX_NEXT_TIMES, parse_json_object

#: Option dest -> CronSpec field, for the options `add` and `edit` share.
OPTION_FIELDS = {
    "schedule": "schedule", "handler": "handler_name", "description": "description",
    "timezone": "timezone", "allow_overlap": "allow_overlap", "max_retry": "max_retry",
    "retry_backoff": "retry_backoff_seconds", "timeout": "timeout_seconds",
    "priority": "priority", "queue": "queue", "catch_up": "catch_up",
    "misfire_grace": "misfire_grace_seconds", "catch_up_max_runs": "catch_up_max_runs",
    "dst_repeat": "dst_repeat", "jitter": "jitter_seconds", "isolation": "isolation",
    "calendar": "calendar", "on_holiday": "on_holiday",
}


def register(commands: argparse._SubParsersAction) -> None:
    cron = commands.add_parser("cron", help="manage scheduled jobs (crons)",
                               description="Add, change and inspect crons: schedules that the "
                                           "dispatcher turns into executions.")
    sub = cron.add_subparsers(dest="cron_command", metavar="COMMAND", required=True)

    add = sub.add_parser("add", help="add a cron",
                         description="Add a cron. The schedule is a 5-field cron expression "
                         "(m h dom mon dow), a 6-field one whose last field is seconds, a macro "
                         "(@daily), an interval (every 5m; every 1h from 2026-12-01T03:30:00Z "
                         "names its first fire time), a one-shot ISO time, or a business-day "
                         "expression (bd 1 09:00, bd -1 18:00: the first, the last business "
                         "day of the month).")
    add.add_argument("name", help="unique name of the cron")
    _spec_options(add, editing=False)
    add.add_argument("--disabled", action="store_true", help="add it without enabling it")
    add.set_defaults(func=cmd_add)

    listing = sub.add_parser("list", help="list crons with their next fire time")
    listing.add_argument("--enabled", action="store_true", help="only enabled crons")
    _json_option(listing)
    listing.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help="show a cron, its next fire times and its statistics")
    show.add_argument("name")
    _json_option(show)
    show.set_defaults(func=cmd_show)

    edit = sub.add_parser("edit", help="change fields of a cron (only those given)")
    edit.add_argument("name")
    edit.add_argument("--rename", metavar="NEW_NAME", help="give the cron a new name")
    _spec_options(edit, editing=True)
    edit.set_defaults(func=cmd_edit)

    for name, enabled in (("enable", True), ("disable", False)):
        toggle = sub.add_parser(name, help=f"{name} a cron")
        toggle.add_argument("name")
        toggle.set_defaults(func=cmd_toggle, enabled=enabled)

    remove = sub.add_parser("remove", help="remove a cron (its history stays)")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_remove)

    run_now = sub.add_parser("run-now", help="enqueue one execution of a cron now")
    run_now.add_argument("name")
    _json_option(run_now)
    run_now.set_defaults(func=cmd_run_now)

    upcoming = sub.add_parser("next", help="the next fire times of a cron, in its time zone, "
                                           "with the days its calendar skips or moves")
    upcoming.add_argument("name")
    upcoming.add_argument("-n", "--count", type=int, default=5,
                          help=f"how many (default 5, at most {MAX_NEXT_TIMES:,})")
    _json_option(upcoming)
    upcoming.set_defaults(func=cmd_next)


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _spec_options(parser: argparse.ArgumentParser, *, editing: bool) -> None:
    """The cron fields as options; for `edit` every one is optional and means "change"."""
    default = CronSpec(name="-", schedule="-", handler_name="-")
    keep = None

    def value(field: str) -> Any:
        return keep if editing else getattr(default, field)

    parser.add_argument("--schedule", required=not editing, metavar="EXPR",
                        help="cron expression, interval (every 5m), ISO time or business day "
                             "(bd -1 18:00)")
    parser.add_argument("--calendar", metavar="NAME", default=keep,
                        help="follow this calendar (jobu calendar list): ticks on its "
                             "non-working days are skipped or moved (--on-holiday); "
                             "'' removes it")
    parser.add_argument("--on-holiday", choices=["skip", "next_business_day",
                                                 "previous_business_day"], default=keep,
                        help="what a tick on a non-working day does (default skip)")
    parser.add_argument("--handler", required=not editing, metavar="NAME",
                        help="the handler to run")
    parser.add_argument("--params", metavar="JSON", default=keep,
                        help="handler parameters, a JSON object (default {})")
    parser.add_argument("--description", default=value("description"), metavar="TEXT")
    parser.add_argument("--timezone", metavar="TZ", default=keep,
                        help="IANA time zone of the schedule (default: timezone in "
                             "dispatcher.yaml)")
    parser.add_argument("--allow-overlap", action=argparse.BooleanOptionalAction,
                        default=value("allow_overlap"),
                        help="start a tick even while the previous execution still runs")
    parser.add_argument("--max-retry", type=int, default=value("max_retry"), metavar="N",
                        help="retries after a failed attempt (default 0)")
    parser.add_argument("--retry-backoff", type=float, default=value("retry_backoff_seconds"),
                        metavar="SECONDS", help="base of the exponential retry backoff "
                                                "(default 10)")
    parser.add_argument("--timeout", type=float, default=value("timeout_seconds"),
                        metavar="SECONDS", help="time limit of one attempt (default none)")
    parser.add_argument("--priority", type=int, default=value("priority"),
                        help="higher runs first (default 0)")
    parser.add_argument("--queue", default=value("queue"), help="worker queue (default default)")
    parser.add_argument("--catch-up", choices=[c.value for c in CatchUp],
                        default=keep if editing else default.catch_up.value,
                        help="ticks missed while no dispatcher ran: run none, the latest, or "
                             "all (default latest)")
    parser.add_argument("--misfire-grace", type=int, default=value("misfire_grace_seconds"),
                        metavar="SECONDS",
                        help="a tick this late still runs normally (default 60)")
    parser.add_argument("--catch-up-max-runs", type=int, default=value("catch_up_max_runs"),
                        metavar="N", help="at most this many missed ticks run with "
                                          "--catch-up all (default 10)")
    parser.add_argument("--dst-repeat", choices=[d.value for d in DstRepeat],
                        default=keep if editing else default.dst_repeat.value,
                        help="daylight saving: auto (default, as cronie: a fixed-time cron "
                             "runs a skipped time after the gap and a repeated one once, a "
                             "wildcard cron neither catches up nor misses the repeated hour); "
                             "first or both: a repeated wall time fires once or twice, a "
                             "skipped one after the gap")
    parser.add_argument("--jitter", type=int, default=value("jitter_seconds"), metavar="SECONDS",
                        help="delay each execution by up to this much, at random (default 0)")
    parser.add_argument("--isolation", choices=[i.value for i in Isolation],
                        default=keep if editing else default.isolation.value,
                        help="run in a pool thread or a child process that can be killed "
                             "(default thread)")
    parser.add_argument("--strict", action="store_true",
                        help="refuse a handler that no running worker reports serving (without "
                             "it: a warning, and the cron waits for a worker that has it)")
    parser.add_argument("--force", action="store_true",
                        help="do not check whether a running worker serves the handler")


def _changes(ctx: Context) -> dict[str, Any]:
    """The CronSpec fields the options set (all of them for add, the given ones for edit)."""
    args = ctx.args
    changes = {field: getattr(args, dest) for dest, field in OPTION_FIELDS.items()
               if getattr(args, dest) is not None}
    if args.params is not None:
        changes["handler_params"] = parse_json_object(args.params)
    for field, kind in (("catch_up", CatchUp), ("dst_repeat", DstRepeat),
                        ("isolation", Isolation)):
        if field in changes:
            changes[field] = kind(changes[field])
    return changes


def _rules(ctx: Context) -> CronRules:
    return CronRules.of(ctx.config.dispatcher)


def cmd_add(ctx: Context) -> int:
    rules = _rules(ctx)
    spec = spec_of(ctx.args.name, rules, is_enabled=not ctx.args.disabled, **_changes(ctx))
    with warnings_printed(UnservedHandlerWarning):
        cron = operations.add_cron(ctx.store, spec, rules, SystemClock(), force=ctx.args.force,
                                   strict=ctx.args.strict)
    print(f"added cron {cron.name} (id {cron.id}): {cron.schedule} {cron.timezone} "
          f"-> {cron.handler_name}; next: {_next_text(ctx, cron)}")
    return 0


def cmd_edit(ctx: Context) -> int:
    changes = _changes(ctx)
    if ctx.args.rename:
        changes["name"] = ctx.args.rename
    with warnings_printed(UnservedHandlerWarning):
        cron = operations.edit_cron(ctx.store, ctx.args.name, changes, _rules(ctx),
                                    SystemClock(), force=ctx.args.force, strict=ctx.args.strict)
    print(f"changed cron {cron.name} ({', '.join(sorted(changes))}); "
          f"next: {_next_text(ctx, cron)}")
    return 0


def cmd_toggle(ctx: Context) -> int:
    cron = operations.set_cron_enabled(ctx.store, ctx.args.name, ctx.args.enabled)
    print(f"cron {cron.name} is {'enabled' if cron.is_enabled else 'disabled'}")
    return 0


def cmd_remove(ctx: Context) -> int:
    operations.remove_cron(ctx.store, ctx.args.name)
    print(f"removed cron {ctx.args.name}; its executions stay in the history")
    return 0


def cmd_list(ctx: Context) -> int:
    crons = operations.list_crons(ctx.store, enabled_only=ctx.args.enabled)
    if ctx.json:
        print_json([{**_plain_cron(c), "next_fire_time": _next(ctx, c)} for c in crons])
        return 0
    print_table(["NAME", "ENABLED", "SCHEDULE", "TIMEZONE", "HANDLER", "NEXT (UTC)", "LAST TICK"],
                [[c.name, "yes" if c.is_enabled else "no", c.schedule, c.timezone,
                  c.handler_name, when(_next(ctx, c)) if c.is_enabled else "-",
                  when(c.last_tick_at)]
                 for c in crons])
    return 0


def cmd_show(ctx: Context) -> int:
    cron = operations.get_cron(ctx.store, ctx.args.name)
    stats = cron_stats(ctx.store, cron)
    upcoming = operations.next_fire_times(cron, datetime.now(UTC), 3,
                                          calendar=calendar_of(ctx.store, cron))
    if ctx.json:
        print_json({**_plain_cron(cron), "stats": stats, "next_fire_times": upcoming})
        return 0
    print_fields([
        ("name", cron.name), ("id", cron.id), ("description", cron.description),
        ("enabled", "yes" if cron.is_enabled else "no"),
        ("schedule", f"{cron.schedule} ({cron.timezone})"),
        ("handler", cron.handler_name), ("params", json.dumps(cron.handler_params)),
        ("queue / priority", f"{cron.queue} / {cron.priority}"),
        ("retries", f"{cron.max_retry} (backoff {cron.retry_backoff_seconds:g} s)"),
        ("timeout", seconds(cron.timeout_seconds)), ("isolation", cron.isolation),
        ("overlap", "allowed" if cron.allow_overlap else "skip while running"),
        ("catch-up", f"{cron.catch_up} (grace {cron.misfire_grace_seconds} s, at most "
                     f"{cron.catch_up_max_runs} runs)"),
        ("dst repeat", cron.dst_repeat), ("jitter", f"{cron.jitter_seconds} s"),
        ("last tick", when(cron.last_tick_at)),
        ("next (UTC)", ", ".join(when(t) for t in upcoming) or "-"),
        ("runs", f"{stats.total} total, {stats.success} ok, {stats.failed} failed, "
                 f"{stats.timeout} timed out, {stats.skipped} skipped, {stats.missed} missed"),
        ("last run", f"{when(stats.last_run_at)} {stats.last_status or ''}".strip()),
        ("duration", f"avg {seconds(stats.avg_duration_seconds)}, "
                     f"p95 {seconds(stats.p95_duration_seconds)}"),
        ("start lateness", f"avg {seconds(stats.avg_start_lateness_seconds)}"),
    ])
    return 0


def cmd_run_now(ctx: Context) -> int:
    cron, execution_id = operations.run_cron_now(ctx.store, ctx.args.name, SystemClock())
    if ctx.json:
        print_json({"id": execution_id, "cron": cron.name})
    else:
        print(f"enqueued execution {execution_id} of cron {cron.name}")
    return 0


def cmd_next(ctx: Context) -> int:
    cron = operations.get_cron(ctx.store, ctx.args.name)
    zone = ZoneInfo(cron.timezone)
    ticks = cron_ticks(ctx.store, cron, datetime.now(UTC), ctx.args.count, "--count")
    if ctx.json:
        print_json([{"local": t.at.astimezone(zone).isoformat(),
                     "utc": t.at.astimezone(UTC).isoformat(), "outcome": t.outcome,
                     "reason": t.reason} for t in ticks])
        return 0
    for tick in ticks:
        t = tick.at.astimezone(zone)
        offset = t.strftime("%z")
        note = {"run": "", "moved": f"  moved: {tick.reason}",
                "skipped": f"  SKIPPED: {tick.reason}"}[tick.outcome]
        print(f"{t:%Y-%m-%d %H:%M:%S} {t.tzname()} (UTC{offset[:3]}:{offset[3:]}){note}")
    if not ticks:
        print(f"cron {cron.name} will not fire again")
    return 0


def _next(ctx: Context, cron: CronJob) -> datetime | None:
    """The next tick (run, moved or skipped), with the cron's calendar as stored."""
    return operations.next_fire_time(cron, datetime.now(UTC), calendar_of(ctx.store, cron))


def _next_text(ctx: Context, cron: CronJob) -> str:
    if not cron.is_enabled:
        return "- (disabled)"
    upcoming = _next(ctx, cron)
    return f"{when(upcoming)} UTC" if upcoming else "never"


def _plain_cron(cron: CronJob) -> dict[str, Any]:
    return plain(cron)
