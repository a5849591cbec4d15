"""Query parameters and bodies of the API, checked with sentences that name them."""

from __future__ import annotations

from typing import Any

from flask import request

from jobu.admin import access
from jobu.errors import InvalidInputError

#: The most rows one page of a list may ask for.
MAX_LIMIT = 1000


def refused(message: str, field: str | None) -> InvalidInputError:
    """An InvalidInputError that says which parameter it is about (the error's `field`)."""
    error = InvalidInputError(message)
    error.field = field
    return error


def whole_number(name: str, default: int | None = None, *, low: int = 1,
                 high: int | None = None) -> int | None:
    text = request.args.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise refused(f"{name} must be a whole number, got {text!r}", name)
    value = int(text)
    if value < low or (high is not None and value > high):
        raise refused(f"{name} must be between {low} and {high}, got {value}"
                      if high is not None else f"{name} must be at least {low}, got {value}",
                      name)
    return value


def limit() -> int:
    """The page size asked for (`limit`), admin.yaml's page_size by default."""
    return whole_number("limit", access.page_size(), high=MAX_LIMIT)


def json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise refused("the request body must be JSON (Content-Type: application/json)", None)
    return body
