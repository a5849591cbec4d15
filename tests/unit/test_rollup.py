"""The pure part of the statistics' running totals: the duration histogram and its p95."""

from __future__ import annotations

import pytest

from jobu.store.rollup import ALL_CRONS, bin_of, bin_value, p95_from_bins, tallies_of


def test_the_histogram_bins_and_the_p95():
    assert bin_of(0.0) == bin_of(0.0009) == bin_of(-3) == bin_of(float("nan")) == 0
    assert bin_of(0.001) == 1 and bin_of(0.0011) == 2
    for seconds in (0.002, 0.5, 1.0, 19.0, 3600.0, 86400.0 * 30):
        assert bin_value(bin_of(seconds)) == pytest.approx(seconds, rel=0.025)
    assert p95_from_bins({}) is None
    durations = [float(n) for n in range(1, 21)]  # the 19th of 20 by nearest rank
    bins = {}
    for seconds in durations:
        bins[bin_of(seconds)] = bins.get(bin_of(seconds), 0) + 1
    assert p95_from_bins(bins) == pytest.approx(19, rel=0.025)


def test_tallies_count_each_cron_and_every_cron_and_take_out_exactly():
    rows = [
        {"job_id": 1, "status": "SUCCESS", "duration": 5.0, "lateness": 2.0},
        {"job_id": 2, "status": "SKIPPED", "duration": None, "lateness": None},
        {"job_id": None, "status": "SUCCESS", "duration": 0.0, "lateness": None},
    ]
    tallies = tallies_of(rows)
    assert sorted(tallies) == [ALL_CRONS, 1, 2]
    assert tallies[1].row() == {"total": 1, "success": 1, "failed": 0, "timeout": 0,
                                "skipped": 0, "missed": 0, "timed": 1, "duration_sum": 5.0,
                                "lateness_runs": 1, "lateness_sum": 2.0}
    assert tallies[ALL_CRONS].total == 2 and tallies[ALL_CRONS].skipped == 1
    assert dict(tallies[1].bins) == {bin_of(5.0): 1}
    out = tallies_of(rows[:1], sign=-1)[1]
    assert out.row() == tallies[1].negated().row() and out.bins == tallies[1].negated().bins
