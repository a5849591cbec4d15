"""The next fire times of a schedule being typed, each in the cron's zone and marked where a
daylight-saving transition of that zone bears on it (the cron form's preview). A schedule
that names a business calendar is previewed with the calendar as stored: its ticks on
non-working days are listed as skipped or moved, with the reason, as `jobu cron next` lists
them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from jobu.model import CronSpec
from jobu.operations.crons import CronRules, cron_ticks, spec_of
from jobu.schedule import validate_timezone
from jobu.store import Store

__all__ = ["DST_GAP_SHIFTED", "DST_REPEATED_HOUR", "PREVIEW_COUNT", "FirePreview", "dst_mark",
           "preview_fires", "preview_schedule"]

#: How many fire times the cron form previews.
PREVIEW_COUNT = 10

#: The fire time is the first instant after the clock sprang forward: the wall times the
#: clock skipped fire there (see jobu.schedule on DST), and a time at the end of the gap too.
DST_GAP_SHIFTED = "gap-shifted"
#: The fire time's wall time happens twice (the clock fell back): its offset tells which.
DST_REPEATED_HOUR = "repeated-hour"


@dataclass(frozen=True)
class FirePreview:
    """One tick: the instant (UTC), the same in the cron's zone, its DST mark, and what the
    cron's calendar does to it."""

    at: datetime
    local: datetime
    #: DST_GAP_SHIFTED, DST_REPEATED_HOUR or None.
    dst: str | None
    #: "run"; or, by the cron's calendar, "moved" (`at` is where it fires) or "skipped"
    #: (`at` is the tick that does not run).
    outcome: str = "run"
    #: Why a tick is moved or skipped ("2026-09-24 is a holiday in calendar kr: Chuseok").
    reason: str | None = None

    @property
    def utc_offset(self) -> str:
        """The zone's offset at that time, as +HH:MM."""
        text = self.local.strftime("%z")
        return f"{text[:3]}:{text[3:]}"


def preview_fires(store: Store, spec: CronSpec, now: datetime, count: int,
                  count_name: str = "count") -> list[FirePreview]:
    """The next `count` ticks of `spec` after `now` (UTC), marked for DST in its zone and
    with what its calendar (as stored) does to them.

    Bad values (schedule, zone, count, a calendar that does not exist) are refused as
    add_cron refuses them.
    """
    zone = validate_timezone(spec.timezone)
    return [FirePreview(at=tick.at, local=tick.at.astimezone(zone), dst=dst_mark(tick.at, zone),
                        outcome=tick.outcome, reason=tick.reason)
            for tick in cron_ticks(store, spec, now, count, count_name)]


def preview_schedule(store: Store, rules: CronRules, now: datetime, schedule: str,
                     timezone: str | None = None, dst_repeat: str | None = None,
                     count: int = PREVIEW_COUNT) -> tuple[CronSpec, list[FirePreview]]:
    """The ticks of a schedule not saved yet, in `timezone` (the rules' default zone
    when None or empty), refused with add_cron's sentences."""
    fields: dict = {"schedule": schedule, "handler_name": "preview",
                    "timezone": timezone or None}
    if dst_repeat:
        fields["dst_repeat"] = dst_repeat
    spec = spec_of("preview", rules, **fields)
    return spec, preview_fires(store, spec, now, count)


def dst_mark(at: datetime, zone: ZoneInfo) -> str | None:
    """How a DST transition of `zone` bears on the instant `at`.

    DST_GAP_SHIFTED when `at` is the very instant the clock sprang forward (an instant
    just before it had a smaller offset); DST_REPEATED_HOUR when `at`'s wall time is
    ambiguous (the two folds of it have different offsets); otherwise None.
    """
    local = at.astimezone(zone)
    before = (at - timedelta(seconds=1)).astimezone(zone)
    if before.utcoffset() < local.utcoffset():
        return DST_GAP_SHIFTED
    wall = local.replace(tzinfo=None)
    first = wall.replace(tzinfo=zone, fold=0).utcoffset()
    second = wall.replace(tzinfo=zone, fold=1).utcoffset()
    if first != second and first > second:
        return DST_REPEATED_HOUR
    return None
