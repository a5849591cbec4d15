"""The store's statistics: running totals of the history, and what is read from them.

Mixed into :class:`jobu.store.Store`, whose `_q`, `_time`, `_read` and `_write` it uses (the
queries are in ``sql/<dialect>/queries.sql``, named stats_*). How the totals stay right is
jobu.store.rollup's docstring; the writes that change a finished execution (a retry, a prune,
removing a cron) call `_take_out` or `_forget_cron_totals` in their own transaction, after
`_lock_totals`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from jobu.db import Connection
from jobu.model import CronStats, Status
from jobu.store.rollup import (
    ALL_CRONS,
    FOLD_LAG_SECONDS,
    Tally,
    bin_of,
    p95_from_bins,
    tallies_of,
)

#: Executions read per fold transaction.
FOLD_BATCH = 5000


def _p95(folded: Counter[int], live: list[float]) -> float | None:
    """The p95 by nearest rank: exact while no duration is folded, else from the histogram
    (within 2.5 %, jobu.store.rollup)."""
    if not any(count > 0 for count in folded.values()):
        if not live:
            return None
        return sorted(live)[math.ceil(0.95 * len(live)) - 1]
    return p95_from_bins(folded + Counter(bin_of(duration) for duration in live))


class StatsMethods:
    """Store methods named *stats*: statistics of the history, and folding them."""

    _q: dict[str, str]
    _time: Callable[[Any], datetime | None]
    _read: Callable[..., Any]
    _write: Callable[..., Any]

    # --- reading

    def cron_stats(self, job_id: int) -> CronStats:
        """What the history says about one cron: counts by outcome, durations, lateness."""
        return self._read(lambda conn: self._stats(conn, "cron", job_id))

    def crons_stats(self) -> CronStats:
        """cron_stats over the executions of every cron (job_id ALL_CRONS).

        The executions of a removed cron no longer belong to a cron, so they are not
        counted; enqueued executions are not either.
        """
        return self._read(lambda conn: self._stats(conn, "crons", ALL_CRONS))

    def _stats(self, conn: Connection, which: str, job_id: int) -> CronStats:
        """The folded totals plus the executions not folded yet (jobu.store.rollup), for one
        cron (`which` "cron") or every cron ("crons"): each statement follows its index."""
        params: dict[str, Any] = {"rollup_id": job_id, "after": self._begin_stats_read(conn)}
        if which == "cron":
            params["job_id"] = job_id
        sums: dict[str, Any] = {}
        folded: Counter[int] = Counter()
        live: list[float] = []
        for row in conn.fetch_all(self._q[f"stats_{which}"], params):
            if row["kind"] == "sums":
                sums = row
            elif row["kind"] == "bin":
                folded[int(row["bin"])] += int(row["total"])
            elif row["duration"] is not None:
                live.append(float(row["duration"]))
        last = conn.fetch_one(self._q[f"{which}_stats_last_run"],
                              {"job_id": job_id} if which == "cron" else {})
        timed = int(sums.get("timed") or 0)
        late = int(sums.get("lateness_runs") or 0)
        return CronStats(
            job_id=job_id, total=int(sums.get("total") or 0),
            success=int(sums.get("success") or 0), failed=int(sums.get("failed") or 0),
            timeout=int(sums.get("timeout") or 0), skipped=int(sums.get("skipped") or 0),
            missed=int(sums.get("missed") or 0),
            last_run_at=self._time(last["started_at"]) if last else None,
            last_status=Status(last["status"]) if last else None,
            avg_duration_seconds=float(sums["duration_sum"]) / timed if timed else None,
            p95_duration_seconds=_p95(folded, live),
            avg_start_lateness_seconds=float(sums["lateness_sum"]) / late if late else None,
        )

    def _begin_stats_read(self, conn: Connection) -> int:
        """Set up a statistics read (PostgreSQL: stats_read_setup) and return the watermark,
        passed as `after` so that the planner knows how few rows lie above it."""
        if "stats_read_setup" in self._q:
            conn.execute(self._q["stats_read_setup"])
        return int(conn.fetch_value(self._q["stats_fold_watermark"]) or 0)

    def cron_last_run(self, job_id: int) -> tuple[Status | None, datetime | None]:
        """The status and start of a cron's newest execution that started, or (None, None)."""
        row = self._read(lambda conn: conn.fetch_one(self._q["cron_stats_last_run"],
                                                     {"job_id": job_id}))
        if row is None:
            return None, None
        return Status(row["status"]), self._time(row["started_at"])

    def cron_durations(self, job_ids: Iterable[int]
                       ) -> dict[int, tuple[float | None, float | None]]:
        """The average and p95 duration of the runs of each of several crons, by cron id
        (None: none ran): cron_stats's, for a page of the crons list in one statement."""
        wanted = sorted(set(job_ids))
        if not wanted:
            return {}

        def work(conn: Connection) -> list[dict[str, Any]]:
            return conn.fetch_all(self._q["stats_durations_of_crons"],
                                  {"job_ids": wanted, "after": self._begin_stats_read(conn)})
        timed: Counter[int] = Counter()
        total: dict[int, float] = {}
        folded: dict[int, Counter[int]] = {}
        live: dict[int, list[float]] = {}
        for row in self._read(work):
            job_id = int(row["job_id"])
            if row["kind"] == "sum":
                timed[job_id] += int(row["runs"])
                total[job_id] = total.get(job_id, 0.0) + float(row["duration"] or 0)
            elif row["kind"] == "bin":
                folded.setdefault(job_id, Counter())[int(row["bin"])] += int(row["runs"])
            elif row["duration"] is not None:
                live.setdefault(job_id, []).append(float(row["duration"]))
        durations = {}
        for job_id in wanted:
            runs = timed[job_id] + len(live.get(job_id, ()))
            seconds = total.get(job_id, 0.0) + sum(live.get(job_id, ()))
            durations[job_id] = (seconds / runs if runs else None,
                                 _p95(folded.get(job_id, Counter()), live.get(job_id, [])))
        return durations

    # --- folding

    def stats_fold(self, now: datetime | None = None, *, batch: int = FOLD_BATCH,
                   lag_seconds: float = FOLD_LAG_SECONDS) -> int:
        """Fold up to `batch` executions into the running totals, in one transaction: those
        the watermark passes (written over `lag_seconds` before `now`, the database's clock
        when None) and those listed as not folded that have finished since. Returns how many
        executions it looked at: less than `batch` means it has caught up. 0 when another
        dispatcher is folding."""
        def work(conn: Connection) -> int:
            lock = conn.fetch_one(self._q["stats_fold_try_lock"])
            if lock is None:
                return 0
            after = int(lock["folded_through"])
            found = conn.fetch_all(self._q["stats_fold_rows"], {
                "after": after, "limit": batch, "now": now, "lag": int(lag_seconds)})
            passed = []
            for row in found:
                if not row["settled"]:
                    break
                passed.append(row)
            finished = []
            for row in passed:
                if row["job_id"] is not None and not Status(row["status"]).is_final:
                    conn.execute(self._q["stats_unfolded_add"],
                                 {"id": row["id"], "job_id": row["job_id"]})
                else:
                    finished.append(row)
            if passed:
                conn.execute(self._q["stats_fold_advance"], {"through": passed[-1]["id"]})
            listed = conn.fetch_all(self._q["stats_unfolded_rows"], {"limit": batch})
            settled = [row for row in listed
                       if row["job_id"] is None or Status(row["status"]).is_final]
            if settled:
                conn.execute(self._q["stats_unfolded_remove"],
                             {"ids": [row["id"] for row in settled]})
            self._apply(conn, tallies_of([*finished, *settled]))
            return len(passed) + len(settled)
        return self._write(work)

    def _apply(self, conn: Connection, tallies: Mapping[int, Tally]) -> None:
        """Add each tally to its cron's totals (negative tallies take out): two statements,
        however many crons."""
        changed = sorted((job_id, tally) for job_id, tally in tallies.items() if tally)
        if not changed:
            return
        conn.execute(self._q["stats_rollup_add"], {"tallies": json.dumps(
            [[job_id, *tally.row().values()] for job_id, tally in changed])})
        bins = [[job_id, index, runs] for job_id, tally in changed
                for index, runs in sorted(tally.bins.items()) if runs]
        if bins:
            conn.execute(self._q["stats_durations_add"], {"bins": json.dumps(bins)})

    # --- for the writes that change a finished execution (Store)

    def _lock_totals(self, conn: Connection) -> None:
        """Wait for the watermark row (a fold in progress ends first)."""
        conn.fetch_one(self._q["stats_fold_lock"])

    def _take_out(self, conn: Connection, executions: Iterable[Mapping[str, Any]]) -> None:
        """Take executions about to change or go (rows of execution_prune_candidates or
        stats_execution_state) out of the totals, those the totals hold."""
        self._apply(conn, tallies_of([row for row in executions if row["folded"]], sign=-1))

    def _forget_cron_totals(self, conn: Connection, job_id: int) -> None:
        """A cron is being removed: its totals leave the all-crons row, and are dropped."""
        row = conn.fetch_one(self._q["stats_rollup_of"], {"job_id": job_id})
        if row is not None:
            tally = Tally(**dict(row),
                          bins=Counter({int(found["bin"]): int(found["runs"])
                                        for found in conn.fetch_all(
                                            self._q["stats_durations_of"],
                                            {"job_id": job_id})}))
            self._apply(conn, {ALL_CRONS: tally.negated()})
        conn.execute(self._q["stats_rollup_forget"], {"job_id": job_id})
        conn.execute(self._q["stats_durations_forget"], {"job_id": job_id})
