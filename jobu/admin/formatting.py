"""How the pages write times, durations and statuses (Jinja filters)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Flask

from jobu.admin.schedule_words import schedule_in_words


def utc(value: datetime | None) -> str:
    """A time in UTC, to the second: 2026-12-07 03:00:00 UTC."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def in_zone(value: datetime | None, zone: str = "UTC") -> str:
    """A time in `zone` with its UTC offset: 2026-12-07 12:00:00 +09:00."""
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(zone))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"


def seconds(value: float | None) -> str:
    """A duration for people: 850 ms, 12.3 s, 4 min 05 s, 2 h 03 min."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def between(start: datetime | None, end: datetime | None) -> str:
    return "—" if start is None or end is None else seconds((end - start).total_seconds())


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(utc=utc, in_zone=in_zone, seconds=seconds,
                                 schedule_words=schedule_in_words)
    app.jinja_env.globals.update(between=between)
