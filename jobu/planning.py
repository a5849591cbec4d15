"""What a cron's ticks become: run, MISSED or SKIPPED. Pure: `now` is a parameter.

The dispatcher asks two questions of this module for each cron that is due:

1. **Which ticks are due, and which of them run?** (:func:`plan_ticks`). Evaluation
   starts after the cron's ``last_tick_at``, the last tick any dispatcher
   evaluated. A cron never evaluated starts at its ``updated_at``: the moment it
   was created, or enabled again (enabling a disabled cron forgets its last tick,
   see the store's ``cron_update``), so no tick from before it existed, or from
   while it was disabled, is ever run or reported.

   A tick is *late* when it is more than ``misfire_grace_seconds`` old at the pass
   that evaluates it (never less than :data:`ON_TIME_TOLERANCE_SECONDS`, which
   absorbs the dispatcher's own delays: a slow database, a long pass). Ticks on
   time always run. Late ticks, the ones that passed while no dispatcher ran,
   follow ``catch_up``:

   * ``skip``: none runs;
   * ``latest``: the most recent one runs, unless a tick on time runs anyway;
   * ``all``: the last ``catch_up_max_runs`` of them run (at most
     :data:`MAX_TICKS_PER_PASS`, which bounds the work of one pass).

   The late ticks that do not run are always the oldest ones, consecutive, so
   they become ONE ``MISSED`` row that names the range (:class:`MissedRange`). A
   gap longer than :data:`MAX_TICKS_PER_PASS` ticks is evaluated in slices of that
   many, one MISSED row each, so a pass stays short. The row says why the ticks
   went unrecorded, from what the dispatcher knows of its own past
   (:class:`PassHistory`): none recorded them before it started, or it was
   running but could not record them in time (its database busy or away, a slow
   pass, a paused process).

2. **Does a tick that runs overlap the previous execution?** (:func:`executions_for`).
   With ``allow_overlap`` off, a tick that comes while the cron's previous
   execution is PENDING, RUNNING or RETRY is recorded SKIPPED, naming it. Ticks
   of one pass count too: when several run at once (catch-up), the first is
   PENDING and the others are SKIPPED behind it.

3. **Does a tick fall on a non-working day of the cron's calendar?** A schedule that
   names a calendar (jobu.calendars) with ``on_holiday: skip`` gives its ticks on
   non-working days too, each with a reason (``skip_reason``): they are recorded
   SKIPPED with it, whether on time or late, and never count as runs for the
   catch-up policy (``latest`` runs the latest late tick that is a business day).
   Moved ticks (``next_business_day``, ``previous_business_day``) are simply ticks
   at their new time.

``jitter_seconds`` delays when a tick may be claimed (``run_after``), never its
``scheduled_time``, by an amount in [0, jitter_seconds] derived from a hash of the
cron's id and the tick, so every dispatcher computes the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jobu.calendars import Calendar, validate_calendar_schedule
from jobu.model import CatchUp, CronJob, NewExecution, ParamSource, Status
from jobu.schedule import Schedule

#: The least grace a tick gets before it counts as late, whatever misfire_grace_seconds says.
ON_TIME_TOLERANCE_SECONDS = 5.0
#: The most ticks of one cron evaluated by one pass; a longer gap takes several passes.
MAX_TICKS_PER_PASS = 10_000


@dataclass(frozen=True)
class MissedRange:
    """Consecutive ticks of a cron that were not run; they become one MISSED row."""

    first: datetime
    last: datetime
    count: int
    catch_up: str
    #: Why no dispatcher recorded the ticks in time (PassHistory.why_missed), if known.
    cause: str | None = None

    @property
    def message(self) -> str:
        them = "it" if self.count == 1 else "them"
        cause = self.cause or f"no dispatcher recorded {them} in time"
        why = f"({cause}; catch_up={self.catch_up})"
        if self.count == 1:
            return f"missed the tick at {_utc_text(self.first)} {why}"
        return (f"missed {self.count} ticks from {_utc_text(self.first)} to "
                f"{_utc_text(self.last)} {why}")


@dataclass(frozen=True)
class PassHistory:
    """What a dispatcher knows of its own past: why a tick it finds late was missed.

    A late tick passed before this dispatcher started (and no other recorded it),
    or while it ran but could not record it in time: its passes failed on the
    database (busy, or away), one pass was slow, or none ran (the process was
    stopped or starved of CPU). Saying which tells an operator where to look.
    """

    #: When this dispatcher's first pass began.
    started_at: datetime
    #: The last pass that went through to the end: when it began and when it ended.
    last_pass: tuple[datetime, datetime] | None = None
    #: When the first pass since then failed on the database; None if none did.
    failing_since: datetime | None = None

    def why_missed(self, first: datetime, last: datetime, now: datetime) -> str:
        """Why the ticks from `first` to `last` were not recorded in time, as of `now`."""
        them = "it" if first == last else "them"
        started = _utc_text(self.started_at)
        if last < self.started_at:
            return f"no dispatcher recorded {them} before this one started at {started}"
        running = self._running_cause(now)
        if first < self.started_at:
            return (f"no dispatcher recorded {them} before this one started at {started}, "
                    f"and then {running}")
        return f"the dispatcher could not record {them} in time: {running}"

    def _running_cause(self, now: datetime) -> str:
        if self.failing_since is not None:
            return (f"database busy or unavailable from {_utc_text(self.failing_since)} "
                    f"to {_utc_text(now)}")
        if self.last_pass is None:
            return f"no pass went through from {_utc_text(self.started_at)} to {_utc_text(now)}"
        began, ended = self.last_pass
        if (ended - began).total_seconds() > ON_TIME_TOLERANCE_SECONDS:
            return (f"its pass from {_utc_text(began)} lasted until {_utc_text(ended)} "
                    "(a busy database or a CPU shortage)")
        return (f"it made no pass from {_utc_text(ended)} to {_utc_text(now)} "
                "(the process was stopped or starved of CPU)")


@dataclass(frozen=True)
class TickPlan:
    """What one pass decided for one cron."""

    #: Ticks to run, oldest first (the overlap rule may still turn them SKIPPED).
    run: tuple[datetime, ...]
    missed: MissedRange | None
    #: The last tick this plan evaluated: the cron's new last_tick_at.
    last_tick_at: datetime | None
    #: The next tick to evaluate; None when the schedule fires no more (a one-shot).
    next_tick_at: datetime | None
    #: False when ticks up to `now` remain (a long gap): plan the cron again at once.
    complete: bool
    #: Ticks on non-working days of the cron's calendar, with the reason: SKIPPED rows.
    skipped: tuple[tuple[datetime, str], ...] = ()

    @property
    def finished(self) -> bool:
        """The schedule has fired for the last time: the cron should be disabled."""
        return self.next_tick_at is None


def evaluation_start(cron: CronJob) -> datetime:
    """The instant after which the cron's ticks are still to be evaluated."""
    start = cron.last_tick_at or cron.updated_at or cron.created_at
    if start is None:
        raise ValueError(f"cron {cron.name!r} has neither last_tick_at nor updated_at")
    return start


def grace_seconds(cron: CronJob) -> float:
    """How old a tick may be at evaluation and still run as on time."""
    return max(float(cron.misfire_grace_seconds), ON_TIME_TOLERANCE_SECONDS)


def checked_schedule(cron: CronJob, min_interval_seconds: float, now: datetime,
                     calendar: Calendar | None = None) -> Schedule:
    """The cron's schedule; ScheduleError if it is not valid or fires too often.

    The same check `jobu cron add` makes, so a cron saved before the minimum was
    raised (or written around the CLI) is refused here too. `calendar` is the one its
    schedule names, if it names one.
    """
    return validate_calendar_schedule(cron.schedule, cron.timezone, min_interval_seconds,
                                      now, cron.dst_repeat, calendar)


def plan_ticks(cron: CronJob, schedule: Schedule | SharedAnswers, now: datetime, *,
               max_ticks: int = MAX_TICKS_PER_PASS,
               history: PassHistory | None = None) -> TickPlan:
    """Decide which of the cron's ticks up to `now` run and which are MISSED.

    `history` is the planning dispatcher's own past, for the reason a MISSED row gives.
    """
    kept = _late_ticks_kept(cron)
    start = evaluation_start(cron)
    due, following = _ticks_until(schedule, start, now, max_ticks + kept)
    late_before = now - timedelta(seconds=grace_seconds(cron))
    more_due = following is not None and following <= now

    if more_due and following < late_before:
        # A long gap: more than `kept` late ticks follow these, so none of the first
        # max_ticks can be among the late ticks that run.
        evaluated = due[:max_ticks]
        skipped = _skipped(schedule, evaluated)
        runnable = [tick for tick in evaluated if tick not in skipped]
        return TickPlan((), _missed(runnable, cron, history, now), evaluated[-1],
                        due[len(evaluated)] if len(evaluated) < len(due) else following,
                        complete=False, skipped=tuple(skipped.items()))

    skipped = _skipped(schedule, due)
    runnable = [tick for tick in due if tick not in skipped]
    late_count = sum(1 for tick in runnable if tick < late_before)
    late, on_time = runnable[:late_count], runnable[late_count:]
    runs_on_time = bool(on_time) or more_due
    if cron.catch_up is CatchUp.SKIP or (cron.catch_up is CatchUp.LATEST and runs_on_time):
        run_late: list[datetime] = []
    else:
        run_late = late[-kept:]
    missed = late[:len(late) - len(run_late)]
    return TickPlan(tuple(run_late + on_time), _missed(missed, cron, history, now),
                    due[-1] if due else cron.last_tick_at, following,
                    complete=not more_due, skipped=tuple(skipped.items()))


def jitter_offset_seconds(cron_id: int, tick: datetime, jitter_seconds: float) -> float:
    """A delay in [0, jitter_seconds] for one tick, the same on every dispatcher."""
    if jitter_seconds <= 0:
        return 0.0
    digest = hashlib.sha256(f"{cron_id}:{tick.astimezone(UTC).isoformat()}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / float(2**64 - 1)
    return round(fraction * jitter_seconds, 6)


def run_after(cron: CronJob, tick: datetime) -> datetime:
    """When the execution of `tick` may be claimed: the tick plus the cron's jitter."""
    return tick + timedelta(seconds=jitter_offset_seconds(cron.id, tick, cron.jitter_seconds))


def overlap_reason(active: tuple[int, Status] | None) -> str | None:
    """Why a tick must be SKIPPED, given the cron's unfinished execution (if any)."""
    if active is None:
        return None
    execution_id, status = active
    return f"previous execution {execution_id} still {status}"


def executions_for(cron: CronJob, plan: TickPlan,
                   active: tuple[int, Status] | None) -> list[NewExecution]:
    """The rows a plan inserts: the MISSED range first, then one row per tick to run.

    `active` is the cron's oldest unfinished execution when the pass read it.
    """
    rows = []
    if plan.missed is not None:
        rows.append(_row(cron, plan.missed.first, Status.MISSED, plan.missed.message))
    rows += [_row(cron, tick, Status.SKIPPED, reason) for tick, reason in plan.skipped]
    blocking = overlap_reason(active)
    for tick in plan.run:
        if cron.allow_overlap or blocking is None:
            rows.append(_row(cron, tick, Status.PENDING, None))
            if not cron.allow_overlap:
                blocking = f"previous execution (tick {_utc_text(tick)}) still PENDING"
        else:
            rows.append(_row(cron, tick, Status.SKIPPED, blocking))
    return rows


class SharedAnswers:
    """A schedule that computes each answer once, for the crons of one pass.

    Crons that share an expression and a last tick (a thousand hourly crons at the
    top of the hour) then share the work of finding their ticks. plan_ticks takes
    one wherever it takes a Schedule.
    """

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self._answers: dict[tuple, object] = {}

    def next_times(self, after: datetime, n: int) -> list[datetime]:
        return list(self._ask("next_times", after, n))

    def ticks_between(self, start: datetime, end: datetime,
                      limit: int | None = None) -> list[datetime]:
        return list(self._ask("ticks_between", start, end, limit))

    def next_after(self, after: datetime) -> datetime | None:
        return self._ask("next_after", after)

    def _ask(self, question: str, *arguments):
        key = (question, *arguments)
        if key not in self._answers:
            self._answers[key] = getattr(self.schedule, question)(*arguments)
        return self._answers[key]


# --- helpers ------------------------------------------------------------------------


def _skip_reasons(schedule: Schedule | SharedAnswers):
    """The schedule's ``skip_reason`` (a calendar schedule's, jobu.calendars), or None."""
    inner = schedule.schedule if isinstance(schedule, SharedAnswers) else schedule
    # Looked up on the class: a plain schedule is not asked anything more.
    return inner.skip_reason if getattr(type(inner), "skip_reason", None) else None


def _skipped(schedule: Schedule | SharedAnswers, ticks: list[datetime]) -> dict[datetime, str]:
    """The ticks that fall on non-working days, with the reason, in order."""
    ask = _skip_reasons(schedule)
    if ask is None:
        return {}
    reasons = ((tick, ask(tick)) for tick in ticks)
    return {tick: reason for tick, reason in reasons if reason is not None}


def _late_ticks_kept(cron: CronJob) -> int:
    """How many of the most recent late ticks the catch-up policy may run."""
    if cron.catch_up is CatchUp.ALL:
        return min(max(1, cron.catch_up_max_runs), MAX_TICKS_PER_PASS)
    return 1 if cron.catch_up is CatchUp.LATEST else 0


def _ticks_until(schedule: Schedule | SharedAnswers, start: datetime, now: datetime,
                 limit: int) -> tuple[list[datetime], datetime | None]:
    """Up to `limit` ticks in (start, now], and the tick after the last of them.

    The following tick is after `now` unless `limit` cut the list short. Most
    passes find one tick due (or none), which one call of the schedule answers.
    """
    head = schedule.next_times(start, 2)
    if len(head) == 2 and head[1] <= now and limit > 1:
        due = schedule.ticks_between(start, now, limit)
        return due, schedule.next_after(due[-1])
    due = [tick for tick in head if tick <= now][:limit]
    return due, head[len(due)] if len(head) > len(due) else None


def _missed(ticks: list[datetime], cron: CronJob, history: PassHistory | None,
            now: datetime) -> MissedRange | None:
    if not ticks:
        return None
    if history is None:
        return MissedRange(ticks[0], ticks[-1], len(ticks), _policy_text(cron))
    return MissedRange(ticks[0], ticks[-1], len(ticks), _policy_text(cron),
                       history.why_missed(ticks[0], ticks[-1], now))


def _policy_text(cron: CronJob) -> str:
    if cron.catch_up is CatchUp.ALL:
        return f"all, catch_up_max_runs={cron.catch_up_max_runs}"
    return str(cron.catch_up)


def _row(cron: CronJob, tick: datetime, status: Status, reason: str | None) -> NewExecution:
    return cron_execution(cron, tick, status=status, reason=reason)


def cron_execution(cron: CronJob, tick: datetime, *, status: Status = Status.PENDING,
                   reason: str | None = None,
                   source: ParamSource = ParamSource.CRON) -> NewExecution:
    """The execution a cron's tick becomes: the one place a cron's settings are copied
    onto an execution, for the dispatcher's ticks and for `jobu cron run-now` /
    Client.run_job_now alike (those pass ParamSource.MANUAL and the time they were
    asked at). A PENDING row may be claimed from the tick plus the cron's jitter; any
    other row records the tick as it is.
    """
    claimable = run_after(cron, tick) if status is Status.PENDING else tick
    return NewExecution(
        handler_name=cron.handler_name, params=dict(cron.handler_params),
        param_source=source, job_id=cron.id, scheduled_time=tick, status=status,
        max_retry=cron.max_retry, retry_backoff_seconds=cron.retry_backoff_seconds,
        timeout_seconds=cron.timeout_seconds, run_after=claimable,
        priority=cron.priority, queue=cron.queue, isolation=cron.isolation,
        error_message=reason)


def _utc_text(instant: datetime) -> str:
    return f"{instant.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
