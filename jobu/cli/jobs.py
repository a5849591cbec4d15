"""`jobu jobs …` (list, show, retry, cancel) and `jobu enqueue`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from jobu import operations
from jobu.cli.context import Context, parse_time
from jobu.cli.output import (
    clip,
    plain,
    print_fields,
    print_json,
    print_table,
    seconds,
    warnings_printed,
    when,
)
from jobu.errors import UnservedHandlerWarning
from jobu.model import Execution, Isolation, ParamSource, Status
from jobu.operations.enqueuing import BULK_TRANSACTION_ROWS, MAX_ENQUEUE_COUNT
from jobu.validation import parse_json_object


def register(commands: argparse._SubParsersAction) -> None:
    jobs = commands.add_parser("jobs", help="inspect and act on executions (the job history)",
                               description="Executions are the runs of crons, events and "
                                           "enqueued jobs, with their outcome.")
    sub = jobs.add_subparsers(dest="jobs_command", metavar="COMMAND", required=True)

    listing = sub.add_parser("list", help="list executions, newest first")
    listing.add_argument("--status", action="append", metavar="STATUS",
                         help="only these statuses (repeat, or separate with commas): "
                              + ", ".join(s.value for s in Status))
    listing.add_argument("--cron", metavar="NAME", help="only executions of this cron")
    listing.add_argument("--handler", metavar="NAME", help="only this handler")
    listing.add_argument("--source", choices=[p.value for p in ParamSource],
                         help="only executions from crons, events or manual enqueues")
    listing.add_argument("--since", metavar="TIME",
                         help="scheduled (for crons: the tick; else: created) at or after "
                              "TIME: ISO 8601 (UTC unless it gives an offset) or an age such "
                              "as 30m, 2h, 7d")
    listing.add_argument("--until", metavar="TIME",
                         help="scheduled before TIME (as --since); --before-id pages within "
                              "the range")
    listing.add_argument("--limit", type=int, default=50, help="rows per page (default 50)")
    listing.add_argument("--before-id", type=int, metavar="ID",
                         help="the page after this id (printed at the end of a full page)")
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    listing.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help="show one execution with the error of every attempt")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true",
                      help="print JSON for scripts (the result is never shortened there)")
    show.add_argument("--full", action="store_true",
                      help=f"print the whole result (by default one longer than "
                           f"{SHOWN_RESULT_CHARS:,} characters is cut there)")
    show.set_defaults(func=cmd_show)

    retry = sub.add_parser("retry", help="run a finished execution again from attempt 1")
    retry.add_argument("id", type=int)
    retry.set_defaults(func=cmd_retry)

    cancel = sub.add_parser("cancel", help="cancel a waiting execution, or ask a running one "
                                           "to stop")
    cancel.add_argument("id", type=int)
    cancel.set_defaults(func=cmd_cancel)

    enqueue = commands.add_parser(
        "enqueue", help="run a handler on demand",
        description="Create executions of a handler for workers to run. Prints one id per "
                    f"line. With --count, they are committed {BULK_TRANSACTION_ROWS:,} per "
                    "transaction, so that the daemons keep working meanwhile: a bulk enqueue "
                    "is not all or nothing, and when it fails or is interrupted, the ids "
                    "printed so far were created.")
    enqueue.add_argument("handler", help="the handler to run")
    enqueue.add_argument("--params", metavar="JSON", default="{}",
                         help="handler parameters, a JSON object (default {})")
    enqueue.add_argument("--count", type=int, default=1,
                         help=f"how many executions (default 1, at most {MAX_ENQUEUE_COUNT:,}), "
                              f"committed {BULK_TRANSACTION_ROWS:,} per transaction")
    enqueue.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
    enqueue.add_argument("--timeout", type=float, metavar="SECONDS",
                         help="time limit of one attempt (default none)")
    enqueue.add_argument("--max-retry", type=int, default=0, metavar="N",
                         help="retries after a failed attempt (default 0)")
    enqueue.add_argument("--queue", default="default", help="worker queue (default default)")
    enqueue.add_argument("--dedupe-key", metavar="KEY",
                         help="idempotency key: enqueuing the same key again creates nothing "
                              "and prints the existing id")
    enqueue.add_argument("--isolation", choices=[i.value for i in Isolation],
                         default=Isolation.THREAD.value,
                         help="run in a pool thread or in a child process (default thread)")
    enqueue.add_argument("--strict", action="store_true",
                         help="refuse a handler that no running worker reports serving "
                              "(without it: a warning, and the executions wait for one)")
    enqueue.add_argument("--json", action="store_true", help="print the ids as JSON")
    enqueue.set_defaults(func=cmd_enqueue)


def cmd_list(ctx: Context) -> int:
    args = ctx.args
    now = datetime.now(UTC)
    page = operations.list_executions(
        ctx.store, statuses=args.status, status_name="--status",
        cron_name=args.cron, handler_name=args.handler, source=args.source,
        since=_time_option(args.since, now, "--since"),
        until=_time_option(args.until, now, "--until"), since_name="--since",
        until_name="--until", limit=args.limit, before_id=args.before_id, limit_name="--limit")
    if ctx.json:
        print_json({"items": page.items, "next_before_id": page.next_cursor})
        return 0
    print_table(["ID", "CRON", "HANDLER", "STATUS", "TRY", "SCHEDULED (UTC)", "STARTED (UTC)",
                 "TOOK", "ERROR"],
                [[e.id, e.cron_name or "-", e.handler_name, e.status, _attempts(e),
                  when(e.scheduled_time), when(e.started_at), seconds(e.duration_seconds),
                  clip(e.error_message)] for e in page.items])
    if page.next_cursor is not None:
        print(f"(more: --before-id {page.next_cursor})")
    return 0


def cmd_show(ctx: Context) -> int:
    detail = operations.get_execution(ctx.store, ctx.args.id)
    execution, errors = detail.execution, detail.attempt_errors
    if ctx.json:
        print_json({**plain(execution), "attempt_errors": errors})
        return 0
    print_fields([
        ("id", execution.id), ("status", execution.status),
        ("cron", execution.cron_name or "-"), ("handler", execution.handler_name),
        ("params", json.dumps(execution.params)), ("source", execution.param_source),
        ("attempt", _attempts(execution)), ("queue / priority",
                                            f"{execution.queue} / {execution.priority}"),
        ("scheduled (UTC)", when(execution.scheduled_time)),
        ("run after (UTC)", when(execution.run_after)),
        ("started (UTC)", when(execution.started_at)),
        ("finished (UTC)", when(execution.finished_at)),
        ("duration", seconds(execution.duration_seconds)),
        ("timeout", seconds(execution.timeout_seconds)),
        ("worker", execution.worker_id),
        ("lease expires (UTC)", when(execution.lease_expires_at)),
        ("cancel requested", "yes" if execution.cancel_requested else "no"),
        ("progress", f"{execution.progress:.0%} {execution.progress_note or ''}".strip()
         if execution.progress is not None else None),
        ("result", None if execution.result is None
         else _shortened(json.dumps(execution.result), full=ctx.args.full)),
        ("error", execution.error_message),
        ("dedupe key", execution.dedupe_key),
    ])
    for error in errors:
        print(f"\nattempt {error.attempt} {error.status} at {when(error.occurred_at)} UTC "
              f"on {error.worker_id or '-'}: {error.error_message}")
        if error.traceback:
            print(error.traceback.rstrip())
    return 0


#: `jobs show` prints at most this much of a result unless --full: a result of megabytes
#: would bury the rest of the execution (and the errors of its attempts) on the terminal.
SHOWN_RESULT_CHARS = 2000


def _shortened(text: str, *, full: bool) -> str:
    if full or len(text) <= SHOWN_RESULT_CHARS:
        return text
    return (f"{text[:SHOWN_RESULT_CHARS]}… ({len(text) - SHOWN_RESULT_CHARS:,} characters "
            "more; --full or --json shows them)")


def cmd_retry(ctx: Context) -> int:
    execution = operations.retry_execution(ctx.store, ctx.args.id)
    print(f"execution {execution.id} is {execution.status} again, from attempt 1")
    return 0


def cmd_cancel(ctx: Context) -> int:
    execution = operations.cancel_execution(ctx.store, ctx.args.id)
    if execution.status is Status.CANCELLED:
        print(f"execution {execution.id} cancelled")
    else:
        print(f"execution {execution.id} is running on {execution.worker_id}; "
              "its worker was asked to stop it")
    return 0


def cmd_enqueue(ctx: Context) -> int:
    args = ctx.args
    params = parse_json_object(args.params)
    new = operations.new_execution(
        args.handler, params, max_retry=args.max_retry, timeout_seconds=args.timeout,
        priority=args.priority, queue=args.queue, isolation=args.isolation,
        dedupe_key=args.dedupe_key)
    with warnings_printed(UnservedHandlerWarning):
        operations.check_handler_served(ctx.store, new.handler_name, strict=args.strict)
    batches = operations.enqueue_copies(ctx.store, new, args.count, count_name="--count",
                                        dedupe_name="--dedupe-key")
    created: list[int | None] = []
    try:
        for batch in batches:
            if not ctx.json:  # as each transaction commits: these ids exist, whatever follows
                sys.stdout.write("".join(f"{i}\n" for i in batch))
            created += batch
    except BaseException:
        if args.count > 1:
            print(f"jobu enqueue: {len(created):,} of {args.count:,} executions were created "
                  "before the error" + ("" if ctx.json else "; their ids are printed above"),
                  file=sys.stderr)
        raise
    if ctx.json:
        print_json(created)
    return 0


def _time_option(text: str | None, now: datetime, option: str) -> datetime | None:
    """An age (30m, 2h, 7d) before `now` or an ISO 8601 time; None when not given. The
    sentence of a refusal names both forms (the admin's `from` and `to` take only times)."""
    return parse_time(text, now, option) if text else None


def _attempts(execution: Execution) -> str:
    return f"{execution.attempt}/{execution.max_retry + 1}"
