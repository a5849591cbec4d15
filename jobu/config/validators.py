"""Checks of one value of a configuration file (a range, a name, a path, a time zone, an
address), as marshmallow takes them: plain callables that raise ValidationError.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError

from jobu.config.fields import did_you_mean, show
from jobu.model import NAME_PATTERN, NAME_RULE

Validator = Callable[[Any], None]


def between(low: float, high: float) -> Validator:
    def check(value: float) -> None:
        if not low <= value <= high:
            raise ValidationError(f"must be between {low} and {high}, got {show(value)}")
    return check


def at_least(low: float) -> Validator:
    def check(value: float) -> None:
        if value < low:
            raise ValidationError(f"must be at least {low}, got {show(value)}")
    return check


def above(low: float) -> Validator:
    def check(value: float) -> None:
        if value <= low:
            raise ValidationError(f"must be greater than {low}, got {show(value)}")
    return check


def matches(pattern: str, expected: str) -> Validator:
    compiled = re.compile(pattern)

    def check(value: str) -> None:
        if not compiled.fullmatch(value):
            raise ValidationError(f"expected {expected}, got {show(value)}")
    return check


name_like = matches(r"[A-Za-z0-9_][A-Za-z0-9_-]*", "a name of letters, digits, '_' and '-'")
#: A cron, handler or queue name, in the one grammar every front end checks.
job_name = matches(NAME_PATTERN.pattern, NAME_RULE)
env_var_name = matches(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name")
module_name = matches(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", "a dotted module name")
kafka_topic = matches(r"[A-Za-z0-9._-]{1,249}", "a Kafka topic name")


def no_duplicates(values: tuple[Any, ...]) -> None:
    repeated = sorted({value for value in values if values.count(value) > 1}, key=str)
    if repeated:
        raise ValidationError("lists " + ", ".join(show(value) for value in repeated) + " twice")


def not_empty(values: tuple[Any, ...]) -> None:
    if not values:
        raise ValidationError("must list at least one item")


def absolute_path(value: str) -> None:
    if not value.startswith("/"):
        raise ValidationError(f"expected an absolute path, got {show(value)}")


def iana_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        hint = did_you_mean(value, zoneinfo.available_timezones())
        raise ValidationError(f"expected an IANA time zone such as 'Europe/Paris' or 'UTC', "
                              f"got {show(value)}{hint}") from None


def host_and_port(value: str) -> None:
    host, colon, port = value.rpartition(":")
    if not (colon and host.strip("[]") and port.isdigit() and 1 <= int(port) <= 65535):
        raise ValidationError(f"expected host:port with a port from 1 to 65535, got {show(value)}")


def bind_address(value: str) -> None:
    if value.startswith("unix:"):
        absolute_path(value[len("unix:"):])
    else:
        host_and_port(value)
