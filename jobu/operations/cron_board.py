"""The crons as the list page and GET /api/v1/crons show them: filtered, ordered pages of
crons, each with its last run, its next fire time, the file that manages it, and its recent
outcomes and durations (cron_page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jobu.errors import InvalidInputError
from jobu.model import CronJob, RecentRuns, Status
from jobu.operations.crons import planned_fire_time
from jobu.store import Store

__all__ = ["CronListRow", "CronPage", "CronQuery", "CronRow", "check_cron_query",
           "cron_managed_by", "cron_page"]


@dataclass(frozen=True)
class CronRow:
    """One cron of the list, with what the history and its schedule say about it."""

    cron: CronJob
    #: The status and start of its last execution that started (None: it never ran).
    last_status: Status | None
    last_run_at: datetime | None
    #: When it fires next (None: disabled, or a one-shot already past).
    next_fire: datetime | None
    #: The crons file that owns it, or None when it is managed in the database.
    managed_by: str | None


def cron_managed_by(store: Store, name: str) -> str | None:
    """The crons file that owns cron `name`, or None."""
    return store.cron_managed_by(name)



#: The newest executions of each cron the list reads: its strip shows them, and its last run
#: is the newest of them that started (older ones are looked up when none did).
STRIP_RUNS = 20
#: The orders the list offers.
SORTS = ("name", "next", "last")
#: What the last-run filter accepts besides a status: crons that never ran.
NEVER_RAN = "never"


@dataclass(frozen=True)
class CronQuery:
    """What the crons list is asked for: a filter, an order, and one page of it."""

    #: Part of the name or the handler, any case ("" matches every cron).
    text: str = ""
    #: True: enabled crons only; False: disabled ones only; None: both.
    enabled: bool | None = None
    #: The status of the last run (a Status value), NEVER_RAN, or None for any.
    last_status: str | None = None
    #: name (A to Z), next (soonest first, crons that do not fire last), last (most recent
    #: run first, crons that never ran last).
    sort: str = "name"
    #: The name of the last cron of the page before (keyset: the page starts after it).
    after: str | None = None
    page_size: int = 50


@dataclass(frozen=True)
class CronListRow(CronRow):
    """A cron of the list page, with its recent history."""

    #: The statuses of its newest STRIP_RUNS executions, oldest first.
    strip: tuple[Status, ...]
    #: Over all its runs, as its statistics (None: none ran).
    avg_duration_seconds: float | None
    p95_duration_seconds: float | None


@dataclass(frozen=True)
class CronPage:
    rows: list[CronListRow]
    #: How many crons the filter matches, over every page.
    matched: int
    #: The `after` of the next page; None on the last one.
    next_after: str | None


def check_cron_query(text: str = "", enabled: str = "", last_status: str = "",
                     sort: str = "", after: str = "", page_size: int = 50) -> CronQuery:
    """A CronQuery from the text of a form or a URL; InvalidInputError naming the bad value."""
    if enabled not in ("", "yes", "no"):
        raise InvalidInputError(f"enabled must be yes or no, got {enabled!r}")
    known = [NEVER_RAN, *(s.value for s in Status)]
    if last_status and last_status.upper() not in known and last_status != NEVER_RAN:
        raise InvalidInputError(f"last status must be one of {', '.join(known)}, "
                                f"got {last_status!r}")
    if sort and sort not in SORTS:
        raise InvalidInputError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    return CronQuery(
        text=text.strip(), enabled={"": None, "yes": True, "no": False}[enabled],
        last_status=(last_status if last_status == NEVER_RAN else last_status.upper()) or None,
        sort=sort or "name", after=after or None, page_size=page_size)


def cron_page(store: Store, now: datetime, query: CronQuery) -> CronPage:
    """One page of the crons list: filtered, ordered, and each cron with the strip of its
    newest outcomes and the average and p95 duration of its runs.

    By name, filtered by text and enabled only (the list as it opens): a page of crons
    along the index on name, then the newest STRIP_RUNS executions of the page's crons in
    one query, and their durations from the statistics' running totals in another; the
    last run is the newest of the strip's that started. Filtered by the last run's status,
    or ordered by next or last run, every cron is read (with their last runs, one query),
    filtered and ordered here, and the next fire time of each matching cron computed from
    its schedule when the order is by it: that costs in proportion to the number of crons.
    """
    managed = store.cron_managed()
    if query.sort == "name" and query.last_status is None:
        found, matched = store.cron_page_by_name(after=query.after, text=query.text,
                                                 enabled=query.enabled,
                                                 limit=query.page_size + 1)
        page = found[:query.page_size]
        recent = store.execution_recent_for_crons([cron.id for cron in page], STRIP_RUNS)
        last_runs = {cron.id: _last_run(store, cron.id, recent.get(cron.id))
                     for cron in page}
        rows = _rows(store, page, now, last_runs, recent, managed, {})
        return CronPage(rows=rows, matched=matched,
                        next_after=page[-1].name if len(found) > query.page_size else None)
    last_runs = store.cron_last_runs()
    matching = [cron for cron in store.cron_list() if _matches(cron, query, last_runs)]
    nexts: dict[int, datetime | None] = {}
    if query.sort == "next":
        nexts = {cron.id: _next_fire(cron, now) for cron in matching}
        far = datetime.max.replace(tzinfo=now.tzinfo)
        matching.sort(key=lambda cron: (nexts[cron.id] is None, nexts[cron.id] or far,
                                        cron.name))
    elif query.sort == "last":
        matching.sort(key=lambda cron: (-_timestamp(last_runs.get(cron.id, (None, None))[1]),
                                        cron.name))
    start = _page_start(matching, query)
    page = matching[start:start + query.page_size]
    recent = store.execution_recent_for_crons([cron.id for cron in page], STRIP_RUNS)
    rows = _rows(store, page, now, last_runs, recent, managed, nexts)
    more = start + query.page_size < len(matching)
    return CronPage(rows=rows, matched=len(matching),
                    next_after=page[-1].name if more and page else None)


def _last_run(store: Store, job_id: int,
              runs: RecentRuns | None) -> tuple[Status | None, datetime | None]:
    """The status and start of a cron's last run: the newest of its strip's that started;
    when none did and older executions exist, looked up along its history."""
    if runs is not None and runs.last_started is not None:
        return runs.last_started
    if runs is None or len(runs.statuses) < STRIP_RUNS:
        return None, None
    return store.cron_last_run(job_id)


def _rows(store: Store, page: list[CronJob], now: datetime, last_runs: dict, recent: dict,
          managed: dict[str, str], nexts: dict[int, datetime | None]) -> list[CronListRow]:
    """The page's crons with what was read for them, and their durations."""
    durations = store.cron_durations([cron.id for cron in page])
    return [_row(cron, now, last_runs, recent, managed, nexts,
                 durations.get(cron.id, (None, None))) for cron in page]


def _row(cron: CronJob, now: datetime, last_runs: dict, recent: dict, managed: dict[str, str],
         nexts: dict[int, datetime | None],
         durations: tuple[float | None, float | None]) -> CronListRow:
    """One cron of the list from what was read for its page."""
    status, started = last_runs.get(cron.id, (None, None))
    runs = recent.get(cron.id)
    return CronListRow(
        cron=cron, last_status=status, last_run_at=started,
        next_fire=nexts[cron.id] if cron.id in nexts else _next_fire(cron, now),
        managed_by=managed.get(cron.name),
        strip=tuple(reversed(runs.statuses[:STRIP_RUNS])) if runs else (),
        avg_duration_seconds=durations[0], p95_duration_seconds=durations[1])


def _matches(cron: CronJob, query: CronQuery,
             last_runs: dict[int, tuple[Status, datetime | None]]) -> bool:
    text = query.text.lower()
    if text and text not in cron.name.lower() and text not in cron.handler_name.lower():
        return False
    if query.enabled is not None and cron.is_enabled != query.enabled:
        return False
    if query.last_status is not None:
        status = last_runs.get(cron.id, (None, None))[0]
        wanted = None if query.last_status == NEVER_RAN else query.last_status
        return (status.value if status else None) == wanted
    return True


def _next_fire(cron: CronJob, now: datetime) -> datetime | None:
    return planned_fire_time(cron, now)


def _timestamp(at: datetime | None) -> float:
    return at.timestamp() if at is not None else float("-inf")


def _page_start(ordered: list[CronJob], query: CronQuery) -> int:
    """Where the page after `query.after` starts: after that cron; in name order, after
    where its name would be when it no longer matches; else from the start."""
    if query.after is None:
        return 0
    for position, cron in enumerate(ordered):
        if cron.name == query.after:
            return position + 1
    if query.sort == "name":
        return next((position for position, cron in enumerate(ordered)
                     if cron.name > query.after), len(ordered))
    return 0
