"""Running totals of the history, so that statistics do not read every execution.

What `jobu cron show`, Client.stats and the admin show for one cron or for every cron
(counts by outcome, average and p95 duration, average start lateness) is the sum of two
parts, read in one statement:

* **folded**: the table ``stats_rollup`` holds, per cron (and for every cron, job_id 0),
  the totals of the finished executions the dispatcher's maintenance has *folded* in, and
  ``stats_durations`` a histogram of their durations;
* **live**: the executions not folded yet, read from ``job_executions`` along indexes:
  those whose id is above the watermark ``stats_fold.folded_through`` (the last minutes),
  and those below it listed in ``stats_unfolded`` (not finished when the watermark passed
  them, or run again since), each found by its id: a read costs in proportion to the
  backlog of unfinished cron executions, not to the history.

Folding (Store.stats_fold) moves executions from the live part to the folded one, a batch
at a time, under a lock on the watermark row. A finished execution changes only three
ways, each of which takes that lock and keeps the sum right: run again (`jobu jobs
retry`: its old outcome is taken out of the totals and it becomes live again), pruned
(taken out before it is deleted), and its cron removed (the cron's totals leave the
all-crons row with it). The watermark passes only rows written at least FOLD_LAG_SECONDS
ago, so that a row whose transaction was still open when the batch was read (an id is
given before its row commits) is not jumped over: jobu writes executions in short
transactions.

The p95 duration is exact (nearest rank) while none of the durations is folded; after, it
comes from the histogram: bins BIN_RATIO wide (5 %), the p95 reported as the middle of its
bin, within 2.5 % of the exact value. This module is the pure part: the bins, and the sums
one row adds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jobu.model import Status

__all__ = ["ALL_CRONS", "BIN_RATIO", "FOLD_LAG_SECONDS", "SMALLEST_BIN_SECONDS", "Tally",
           "bin_of", "bin_value", "p95_from_bins", "tallies_of"]

#: The job_id of the totals over every cron.
ALL_CRONS = 0
#: A row is folded only once it was written this long ago (see the module's docstring).
FOLD_LAG_SECONDS = 120.0
#: Each bin of the duration histogram is this many times as wide as the one below it.
BIN_RATIO = 1.05
#: Durations below this (1 ms) share bin 0.
SMALLEST_BIN_SECONDS = 0.001

#: The outcomes counted by name; a run's duration counts for these three.
TIMED_STATUSES = frozenset({Status.SUCCESS, Status.FAILED, Status.TIMEOUT})
_COUNTED = {Status.SUCCESS: "success", Status.FAILED: "failed", Status.TIMEOUT: "timeout",
            Status.SKIPPED: "skipped", Status.MISSED: "missed"}


def bin_of(seconds: float) -> int:
    """The histogram bin of a duration: 0 below 1 ms, then one per 5 % step."""
    if not seconds >= SMALLEST_BIN_SECONDS:  # also NaN and negative (clock skew)
        return 0
    return 1 + int(math.log(seconds / SMALLEST_BIN_SECONDS) / math.log(BIN_RATIO))


def bin_value(index: int) -> float:
    """The duration a bin stands for: the geometric middle of its bounds (0 for bin 0)."""
    if index <= 0:
        return 0.0
    return SMALLEST_BIN_SECONDS * BIN_RATIO ** (index - 0.5)


def p95_from_bins(bins: Mapping[int, int]) -> float | None:
    """The p95 by nearest rank of the durations a histogram counts (None: it counts none)."""
    runs = sum(count for count in bins.values() if count > 0)
    if runs == 0:
        return None
    rank = math.ceil(0.95 * runs)  # the rank-th shortest, counting from 1
    seen = 0
    for index in sorted(bins):
        seen += max(bins[index], 0)
        if seen >= rank:
            return bin_value(index)
    return bin_value(max(bins))


@dataclass
class Tally:
    """The totals of some executions: what one stats_rollup row holds, and their bins."""

    total: int = 0
    success: int = 0
    failed: int = 0
    timeout: int = 0
    skipped: int = 0
    missed: int = 0
    #: Runs with a duration (SUCCESS, FAILED or TIMEOUT, started and finished).
    timed: int = 0
    duration_sum: float = 0.0
    #: Executions that started, and the sum of how late they started.
    lateness_runs: int = 0
    lateness_sum: float = 0.0
    bins: Counter[int] = field(default_factory=Counter)

    def add(self, status: Status, duration: float | None, lateness: float | None,
            sign: int = 1) -> None:
        """Count one execution in (`sign` 1) or out (-1): its status, its duration in
        seconds (None unless it started and finished) and how late it started (None unless
        it started)."""
        self.total += sign
        name = _COUNTED.get(status)
        if name is not None:
            setattr(self, name, getattr(self, name) + sign)
        if status in TIMED_STATUSES and duration is not None:
            self.timed += sign
            self.duration_sum += sign * duration
            self.bins[bin_of(duration)] += sign
        if lateness is not None:
            self.lateness_runs += sign
            self.lateness_sum += sign * lateness

    def negated(self) -> Tally:
        """The same totals taken out."""
        return Tally(**{name: -value for name, value in self.row().items()},
                     bins=Counter({index: -count for index, count in self.bins.items()}))

    def row(self) -> dict[str, Any]:
        """The columns of stats_rollup (without job_id)."""
        return {"total": self.total, "success": self.success, "failed": self.failed,
                "timeout": self.timeout, "skipped": self.skipped, "missed": self.missed,
                "timed": self.timed, "duration_sum": self.duration_sum,
                "lateness_runs": self.lateness_runs, "lateness_sum": self.lateness_sum}

    def __bool__(self) -> bool:
        return self.total != 0 or any(self.bins.values())


def tallies_of(executions: Iterable[Mapping[str, Any]], sign: int = 1) -> dict[int, Tally]:
    """The tallies of executions (rows with job_id, status, duration and lateness, as the
    store's stats queries give them) by cron id, and over all of them under ALL_CRONS. Rows
    without a cron count nowhere."""
    tallies: dict[int, Tally] = {}
    for row in executions:
        if row["job_id"] is None:
            continue
        status = Status(row["status"])
        duration = None if row["duration"] is None else float(row["duration"])
        lateness = None if row["lateness"] is None else float(row["lateness"])
        for job_id in (int(row["job_id"]), ALL_CRONS):
            tallies.setdefault(job_id, Tally()).add(status, duration, lateness, sign)
    return tallies
