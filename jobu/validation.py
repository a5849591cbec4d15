"""Checks on what operators type: cron fields, handler names, JSON parameters.

The CLI, the Python client and the admin all call these, so a bad cron is refused
with the same sentence wherever it is entered. Pure: `now` is a parameter.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from jobu.calendars import Calendar, check_on_holiday_applies, validate_calendar_schedule
from jobu.errors import InvalidInputError
from jobu.model import NAME_PATTERN, NAME_RULE, CronSpec
from jobu.schedule import validate_timezone

#: The integer columns (priority, retries, seconds) are 32-bit on every database.
INT_MAX = 2**31 - 1
#: The most executions one `jobu enqueue --count` or Client.enqueue_many creates: ten
#: million take minutes and gigabytes already; more is a loop of several commands.
MAX_ENQUEUE_COUNT = 10_000_000
#: The most fire times `jobu cron next -n` lists (a year of a cron every hour is 8,760).
MAX_NEXT_TIMES = 10_000


def check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise InvalidInputError(
            f"{what} {value!r} is not valid: use {NAME_RULE}")
    return value


def parse_json_object(text: str, what: str = "--params") -> dict[str, Any]:
    """A JSON object from text; InvalidInputError says where the JSON went wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(value, dict):
        raise InvalidInputError(
            f"{what} must be a JSON object ({{...}}), got {type(value).__name__}")
    return value


def check_cron_spec(spec: CronSpec, *, min_interval_seconds: float, now: datetime,
                    calendar: Calendar | None = None) -> CronSpec:
    """Refuse a cron that could not run as written; return it unchanged when it can.

    `calendar` is the one its schedule names (``… calendar NAME``), if it names one;
    without it only the schedule's syntax is checked.
    """
    check_name(spec.name, "cron name")
    check_name(spec.handler_name, "handler name")
    check_name(spec.queue, "queue name")
    validate_timezone(spec.timezone)
    check_on_holiday_applies(spec.schedule)
    schedule = validate_calendar_schedule(spec.schedule, spec.timezone, min_interval_seconds,
                                          now, spec.dst_repeat, calendar)
    if schedule.next_after(now) is None:
        raise InvalidInputError(f"'{spec.schedule}' is in the past: it would never fire")
    if not isinstance(spec.handler_params, dict):
        raise InvalidInputError("handler_params must be a JSON object")
    try:
        json.dumps(spec.handler_params, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"handler_params is not JSON-serialisable: {exc}") from None
    _at_least(spec.max_retry, 0, "max_retry")
    _at_least(spec.misfire_grace_seconds, 0, "misfire_grace_seconds")
    _at_least(spec.catch_up_max_runs, 1, "catch_up_max_runs")
    _at_least(spec.jitter_seconds, 0, "jitter_seconds")
    _at_least(spec.priority, -INT_MAX, "priority")
    _at_least(spec.retry_backoff_seconds, 0, "retry_backoff_seconds")
    _check_timeout(spec.timeout_seconds)
    return spec


def check_execution_options(*, max_retry: int = 0, timeout_seconds: float | None = None,
                            queue: str = "default", handler_name: str,
                            priority: int = 0) -> None:
    """The checks an enqueued execution shares with a cron."""
    check_name(handler_name, "handler name")
    check_name(queue, "queue name")
    _at_least(max_retry, 0, "max_retry")
    _at_least(priority, -INT_MAX, "priority")
    _check_timeout(timeout_seconds)


def check_enqueue_count(count: int, what: str = "--count") -> int:
    """How many executions one enqueue creates: 1 to MAX_ENQUEUE_COUNT."""
    return _count_within(count, MAX_ENQUEUE_COUNT, what,
                         "split it into several enqueues")


def check_next_times_count(count: int, what: str = "--count") -> int:
    """How many fire times `cron next` lists: 1 to MAX_NEXT_TIMES."""
    return _count_within(count, MAX_NEXT_TIMES, what)


def _count_within(count: int, limit: int, what: str, advice: str = "") -> int:
    if count < 1:
        raise InvalidInputError(f"{what} must be at least 1, got {count}")
    if count > limit:
        raise InvalidInputError(f"{what} must be at most {limit:,}, got {count:,}"
                                + (f"; {advice}" if advice else ""))
    return count


def _check_timeout(timeout_seconds: float | None) -> None:
    if timeout_seconds is None:
        return
    if not math.isfinite(timeout_seconds) or timeout_seconds <= 0:
        raise InvalidInputError(f"timeout must be more than 0 seconds, got {timeout_seconds:g}")


def _at_least(value: float, low: float, what: str) -> None:
    """A finite number from `low` to INT_MAX (integer columns are 32-bit)."""
    if not math.isfinite(value):
        raise InvalidInputError(f"{what} must be a finite number, got {value:g}")
    if value < low:
        raise InvalidInputError(f"{what} must be at least {low:g}, got {value:g}")
    if value > INT_MAX:
        raise InvalidInputError(f"{what} must be at most {INT_MAX}, got {value:g}")
