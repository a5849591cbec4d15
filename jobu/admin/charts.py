"""Charts drawn on the server as inline SVG: data in, markup out.

Nothing is loaded from elsewhere and no script runs: each chart is an ``<svg>`` element
inside a ``<figure>``, with a ``<title>`` and ``<desc>`` a screen reader announces, a
``<title>`` on each bar (the browser's tooltip), a legend drawn in the SVG, and the same
numbers as a table in a ``<details>`` beneath it. Every text is escaped; colours are
presentation attributes (``fill``), which the Content-Security-Policy allows where it
refuses inline styles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

from jobu.admin.formatting import seconds as _seconds
from jobu.model import Status
from jobu.operations.charts_data import HourActivity, RunBar

__all__ = ["STATUS_COLOURS", "duration_chart", "lateness_chart", "throughput_chart"]

#: The colour of each outcome (the list's strips use the same, through admin.css).
STATUS_COLOURS = {
    Status.SUCCESS: "#2e7d32", Status.FAILED: "#c62828", Status.TIMEOUT: "#ef6c00",
    Status.CANCELLED: "#6d4c41", Status.SKIPPED: "#9e9e9e", Status.MISSED: "#616161",
    Status.RUNNING: "#1565c0", Status.PENDING: "#90caf9", Status.RETRY: "#f9a825",
}
#: Drawing area, in SVG user units (the SVG scales to its container's width).
WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 28, 24
#: The height of the mark drawn for a run that has no duration (still running, skipped).
NO_VALUE_MARK = 2


@dataclass(frozen=True)
class _Segment:
    value: float
    colour: str


@dataclass(frozen=True)
class _Column:
    """One bar, of one or more stacked segments, and what its tooltip says."""

    segments: tuple[_Segment, ...]
    tooltip: str
    #: Drawn under the axis (every few columns), or "".
    label: str = ""


def duration_chart(runs: Sequence[RunBar], chart_id: str = "durations") -> Markup:
    """A cron's last runs, oldest on the left: each bar as tall as the run took, in the
    colour of its outcome; runs without a duration are a thin mark on the axis."""
    title = f"Duration and outcome of the last {len(runs)} runs"
    if not runs:
        return _empty(title, "No run yet: the chart fills as the cron runs.")
    columns = [_Column(
        segments=(_Segment(run.duration_seconds or 0.0, _colour(run.status)),),
        tooltip=f"#{run.execution_id} {run.status.value}, "
                + (_seconds(run.duration_seconds) if run.duration_seconds is not None
                   else "no duration")
                + (f", started {_utc(run.started_at)}" if run.started_at else ""))
        for run in runs]
    statuses = sorted({run.status for run in runs}, key=list(Status).index)
    timed = [run.duration_seconds for run in runs if run.duration_seconds is not None]
    desc = (f"{len(runs)} runs, oldest first; the longest took "
            f"{_seconds(max(timed)) if timed else 'no time'}. Colours: "
            + ", ".join(status.value for status in statuses) + ".")
    rows = [(f"#{run.execution_id}", run.status.value, _utc(run.started_at),
             _seconds(run.duration_seconds) if run.duration_seconds is not None else "—")
            for run in runs]
    return _figure(chart_id, title, desc, columns, _seconds,
                   [(status.value, _colour(status)) for status in statuses],
                   ("Run", "Outcome", "Started (UTC)", "Duration"), rows)


def throughput_chart(hours: Sequence[HourActivity], chart_id: str = "throughput") -> Markup:
    """Executions finished per UTC hour, succeeded and failed (FAILED, TIMEOUT) stacked."""
    title = f"Executions finished per hour, last {len(hours)} hours"
    if not any(hour.finished for hour in hours):
        return _empty(title, f"No execution finished in the last {len(hours)} hours.")
    success, failed = STATUS_COLOURS[Status.SUCCESS], STATUS_COLOURS[Status.FAILED]
    columns = [_Column(
        segments=(_Segment(hour.succeeded, success), _Segment(hour.failed, failed)),
        tooltip=f"{_hour(hour.hour)}: {hour.succeeded} succeeded, {hour.failed} failed",
        label=_hour_label(hour.hour) if index % 6 == 0 else "")
        for index, hour in enumerate(hours)]
    total = sum(hour.finished for hour in hours)
    failures = sum(hour.failed for hour in hours)
    desc = (f"{total} executions finished, {failures} of them failed or timed out; "
            f"the busiest hour had {max(hour.finished for hour in hours)}.")
    rows = [(_hour(hour.hour), str(hour.succeeded), str(hour.failed)) for hour in hours]
    return _figure(chart_id, title, desc, columns, lambda value: f"{value:g}",
                   [("succeeded", success), ("failed or timed out", failed)],
                   ("Hour (UTC)", "Succeeded", "Failed"), rows)


def lateness_chart(hours: Sequence[HourActivity], chart_id: str = "lateness") -> Markup:
    """The average start lateness of the runs that finished in each UTC hour."""
    title = f"Average start lateness per hour, last {len(hours)} hours"
    if all(hour.avg_lateness_seconds is None for hour in hours):
        return _empty(title, f"No scheduled run finished in the last {len(hours)} hours.")
    colour = STATUS_COLOURS[Status.RUNNING]
    columns = [_Column(
        segments=(_Segment(max(hour.avg_lateness_seconds or 0.0, 0.0), colour),),
        tooltip=f"{_hour(hour.hour)}: "
                + (f"{_seconds(hour.avg_lateness_seconds)} late on average"
                   if hour.avg_lateness_seconds is not None else "no run"),
        label=_hour_label(hour.hour) if index % 6 == 0 else "")
        for index, hour in enumerate(hours)]
    known = [hour.avg_lateness_seconds for hour in hours if hour.avg_lateness_seconds is not None]
    desc = (f"Runs started {_seconds(sum(known) / len(known))} late on average over the hours "
            f"that had runs; the worst hour {_seconds(max(known))}.")
    rows = [(_hour(hour.hour), _seconds(hour.avg_lateness_seconds)
             if hour.avg_lateness_seconds is not None else "—") for hour in hours]
    return _figure(chart_id, title, desc, columns, _seconds, [("average lateness", colour)],
                   ("Hour (UTC)", "Average lateness"), rows)


def _figure(chart_id: str, title: str, desc: str, columns: list[_Column], value_text,
            legend: list[tuple[str, str]], headers: tuple[str, ...],
            rows: list[tuple[str, ...]]) -> Markup:
    """The figure: the SVG (axis, bars, legend) and the table of its numbers."""
    chart_id = escape(chart_id)
    top = max((sum(segment.value for segment in column.segments) for column in columns),
              default=0.0) or 1.0
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_width / len(columns)
    gap = min(2.0, step / 4)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_height}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_height}" stroke="#888"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_height}" '
        f'stroke="#888"/>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end" '
        f'font-size="10">{escape(value_text(top))}</text>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + plot_height}" text-anchor="end" '
        f'font-size="10">0</text>',
        '<g class="bars">',
    ]
    for index, column in enumerate(columns):
        x = LEFT + index * step + gap / 2
        base = TOP + plot_height
        parts.append(f'<g class="bar"><title>{escape(column.tooltip)}</title>')
        for segment in column.segments:
            height = segment.value / top * plot_height
            if segment.value == 0 and len(column.segments) == 1:
                height = NO_VALUE_MARK
            if height <= 0:
                continue
            base -= height
            parts.append(f'<rect x="{x:.2f}" y="{base:.2f}" width="{step - gap:.2f}" '
                         f'height="{height:.2f}" fill="{segment.colour}" '
                         f'data-value="{segment.value:g}"/>')
        parts.append("</g>")
        if column.label:
            parts.append(f'<text class="tick" x="{x:.2f}" y="{HEIGHT - 8}" '
                         f'font-size="10">{escape(column.label)}</text>')
    parts.append("</g>")
    x = LEFT
    parts.append('<g class="legend">')
    for name, colour in legend:
        parts.append(f'<rect x="{x}" y="6" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{x + 14}" y="15" font-size="11">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    parts.append("</g></svg>")
    table = ["<details><summary>The numbers</summary><table><thead><tr>",
             *(f"<th>{escape(header)}</th>" for header in headers), "</tr></thead><tbody>"]
    for row in rows:
        table.append("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>")
    table.append("</tbody></table></details>")
    return Markup(f'<figure class="chart">{"".join(parts)}{"".join(table)}</figure>')


def _empty(title: str, sentence: str) -> Markup:
    return Markup(f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
                  f'<p class="empty">{escape(sentence)}</p></figure>')


def _colour(status: Status) -> str:
    return STATUS_COLOURS.get(status, "#757575")


def _utc(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "—"


def _hour(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:00")


def _hour_label(at: datetime) -> str:
    return at.strftime("%H:00")
