"""A schedule in words, for people reading the crons list: "every day at 03:00 Europe/Seoul".

Covers the shapes schedules usually take (every N minutes, hourly, daily, on week days,
monthly, macros, intervals, one-shot times); anything else is shown as written, which
the page prints beside it anyway. Pure: no clock, no I/O.
"""

from __future__ import annotations

from datetime import datetime

DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
DAY_NAMES = {name[:3].lower(): index for index, name in enumerate(DAYS)}
MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
          "@annually": "0 0 1 1 *"}
UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}


def schedule_in_words(schedule: str, timezone: str = "UTC") -> str:
    text = " ".join(str(schedule).split())
    text = MACROS.get(text.lower(), text)
    if text.lower().startswith("every "):
        return _interval(text)
    fields = text.split(" ")
    if len(fields) in (5, 6):
        words = _cron(fields[:5], seconds=fields[5] if len(fields) == 6 else "0")
        if words is not None:
            return words.replace("{tz}", timezone)
    try:
        return f"once, at {datetime.fromisoformat(text).isoformat(sep=' ')}"
    except ValueError:
        return text


def _interval(text: str) -> str:
    words = text.split(" ")
    amount = words[1] if len(words) > 1 else ""
    number, unit = amount[:-1], UNITS.get(amount[-1:].lower())
    if not number.isdigit() or unit is None:
        return text
    count = int(number)
    said = f"every {unit}" if count == 1 else f"every {count} {unit}s"
    if len(words) > 3 and words[2] == "from":
        said += f", counted from {' '.join(words[3:])}"
    return said


def _number(field: str) -> int | None:
    return int(field) if field.isdigit() else None


def _day_list(field: str) -> str | None:
    """Week days as words: "Monday", "Monday to Friday", "Monday, Friday"."""
    def day(token: str) -> str | None:
        index = DAY_NAMES.get(token.lower()[:3]) if not token.isdigit() else int(token) % 7
        return None if index is None else DAYS[index]
    if "-" in field and "," not in field:
        first, _, last = field.partition("-")
        start, end = day(first), day(last)
        return None if start is None or end is None else f"{start} to {end}"
    names = [day(token) for token in field.split(",")]
    return None if None in names else ", ".join(names)


def _cron(fields: list[str], seconds: str) -> str | None:
    minute, hour, dom, month, dow = fields
    if seconds != "0" or month != "*":
        return None
    at_minute, at_hour = _number(minute), _number(hour)
    if dom == "*" and dow == "*":
        if minute == "*" and hour == "*":
            return "every minute"
        if minute.startswith("*/") and hour == "*" and minute[2:].isdigit():
            return f"every {int(minute[2:])} minutes"
        if at_minute is not None and hour == "*":
            return f"every hour at minute {at_minute}"
        if at_minute is not None and hour.startswith("*/") and hour[2:].isdigit():
            return f"every {int(hour[2:])} hours at minute {at_minute}"
    if at_minute is None or at_hour is None:
        return None
    time = f"{at_hour:02d}:{at_minute:02d} {{tz}}"
    if dom == "*" and dow == "*":
        return f"every day at {time}"
    if dom == "*":
        days = _day_list(dow)
        return None if days is None else f"every {days} at {time}"
    if dow == "*" and _number(dom) is not None:
        return f"on day {int(dom)} of every month at {time}"
    return None
