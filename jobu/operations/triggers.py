"""Schedules written the APScheduler way, as the expressions jobu stores.

`Client.add_cron_job(hour=3, minute=0)`, `add_interval_job(minutes=30)` and
`add_date_job(run_date)` become the same `schedule` text that `jobu cron add
--schedule` takes (see jobu.schedule), so a cron reads the same whichever front end
made it, and the dispatcher needs no second kind of schedule. Pure: the
expressions are checked later, with every other field of the cron.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from typing import Any

from jobu.errors import InvalidInputError

__all__ = ["CRON_FIELDS", "cron_expression", "date_expression", "interval_expression"]

#: APScheduler's cron fields that jobu has, most significant first, with the value a
#: field takes when it is less significant than every field given (APScheduler's rule).
CRON_FIELDS = (("month", "1"), ("day", "1"), ("day_of_week", "*"), ("hour", "0"),
               ("minute", "0"), ("second", "0"))

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTERVAL_UNITS = (("d", 86400, "days"), ("h", 3600, "hours"), ("m", 60, "minutes"),
                   ("s", 1, "seconds"))


def cron_expression(expression: str | None = None, **fields: Any) -> str:
    """The cron expression for `expression`, or for APScheduler-style fields.

    Fields follow APScheduler: those more significant than the least significant
    field given default to ``*`` and the others to their minimum, so ``hour=3``
    fires at 03:00:00 every day. ``day="last"`` is the month's last day. Week days
    are names (``"sun"``, ``"mon-fri"``, ``"sat,sun"``): APScheduler counts Monday as
    0 and cron Sunday, so a number would mean a different day to some readers.
    A ``second`` other than 0 makes the 6-field form, whose last field is seconds.
    """
    given = {name: value for name, value in fields.items() if value is not None}
    if expression is not None:
        if given:
            raise InvalidInputError(
                f"give either expression or cron fields, not both (got expression "
                f"{expression!r} and {', '.join(sorted(given))})")
        if not isinstance(expression, str):
            raise InvalidInputError(f"expression must be a string, got "
                                    f"{type(expression).__name__}")
        return expression
    if not given:
        raise InvalidInputError(
            "a cron job needs a schedule: an expression such as '0 3 * * *', or fields "
            "such as hour=3, minute=0 (month, day, day_of_week, hour, minute, second)")
    values = {name: _field_text(name, value) for name, value in given.items()}
    last_given = max(i for i, (name, _) in enumerate(CRON_FIELDS) if name in values)
    resolved = {}
    for i, (name, minimum) in enumerate(CRON_FIELDS):
        resolved[name] = values.get(name, "*" if i < last_given else minimum)
    text = " ".join(resolved[name] for name in ("minute", "hour", "day", "month",
                                                 "day_of_week"))
    return text if resolved["second"] == "0" else f"{text} {resolved['second']}"


def interval_expression(*, weeks: float = 0, days: float = 0, hours: float = 0,
                        minutes: float = 0, seconds: float = 0,
                        start: datetime | None = None) -> str:
    """``every …`` for a whole number of seconds, ``from`` `start` when one is given.

    Without a start, the fire times are the multiples of the interval since the
    Unix epoch (every 30 minutes is :00 and :30); with one, the start and every
    interval after it. A start without a UTC offset is wall-clock time in the
    job's time zone.
    """
    parts = {"weeks": weeks, "days": days, "hours": hours, "minutes": minutes,
             "seconds": seconds}
    for name, value in parts.items():
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"{name} must be a number of 0 or more, got {value!r}")
    total = (weeks * 7 * 86400 + days * 86400 + hours * 3600 + minutes * 60 + seconds)
    if total <= 0:
        raise InvalidInputError("an interval job needs a length: give seconds, minutes, "
                                "hours, days or weeks")
    if total != int(total):
        raise InvalidInputError(f"the interval must be a whole number of seconds, got "
                                f"{total:g} s")
    remaining, text = int(total), []
    for unit, size, _ in _INTERVAL_UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            text.append(f"{count}{unit}")
    expression = "every " + "".join(text)
    if start is None:
        return expression
    if not isinstance(start, datetime):
        raise InvalidInputError(f"start must be a datetime, got {type(start).__name__}")
    return f"{expression} from {start.isoformat()}"


def date_expression(run_date: datetime | date | str) -> str:
    """The one-shot schedule for `run_date`; a time without an offset is wall-clock
    time in the job's time zone, and a date alone means its midnight."""
    if isinstance(run_date, datetime):
        return run_date.isoformat()
    if isinstance(run_date, date):
        return datetime.combine(run_date, time()).isoformat()
    if isinstance(run_date, str):
        # An ISO date reads as a one-shot time as it is; anything else gets "at", so that
        # it cannot be taken for a cron expression, and a typo is reported as a bad time.
        if run_date.lower().startswith("at ") or _ISO_DATE.match(run_date):
            return run_date
        return f"at {run_date}"
    raise InvalidInputError(f"run_date must be a datetime, a date or an ISO 8601 string, "
                            f"got {type(run_date).__name__}")


def interval_words(total_seconds: int) -> str:
    """``5 minutes``, ``1 hour and 30 minutes``: an interval for people."""
    remaining, words = total_seconds, []
    for _, size, name in _INTERVAL_UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            words.append(f"{count} {name[:-1] if count == 1 else name}")
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _field_text(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInputError(f"cron field {name} must be a number or a string such as "
                                f"'*/5' or '1-5', got {value!r}")
    text = str(value).strip()
    if not text:
        raise InvalidInputError(f"cron field {name} is empty")
    if " " in text:
        raise InvalidInputError(f"cron field {name} {text!r} has a space; separate values "
                                "with commas")
    if name == "day" and text.lower() == "last":
        return "L"
    if name == "day_of_week":
        for item in text.split(","):
            days = item.partition("/")[0]
            if any(part.isdigit() for part in days.split("-")):
                raise InvalidInputError(
                    f"day_of_week {text!r}: write day names (mon, tue, … sun, ranges such "
                    "as 'mon-fri', lists such as 'sat,sun'); numbers are refused because "
                    "APScheduler counts Monday as 0 and cron counts Sunday as 0")
    return text
