"""Query parameters and bodies of the API, checked with sentences that name them."""

from __future__ import annotations

from typing import Any

from flask import request

from jobu.admin import access
from jobu.admin.api import bp
from jobu.errors import InvalidInputError, NotFoundError

#: The most rows one page of a list may ask for.
MAX_LIMIT = 1000
#: The largest id a row can have (a signed 64-bit integer in every dialect).
MAX_ID = 2**63 - 1


@bp.url_value_preprocessor
def ids_in_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """An id in the path beyond any row's names nothing: 404, not the database's overflow."""
    for name, value in (values or {}).items():
        if isinstance(value, int) and value > MAX_ID:
            raise NotFoundError(f"no {name.removesuffix('_id').replace('_', ' ')} {value}")


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
    if not (text.isascii() and text.isdigit()):  # isdigit alone takes "²", which int refuses
        raise refused(f"{name} must be a whole number, got {text!r}", name)
    value = int(text)
    if high is None and value > MAX_ID:
        high = MAX_ID  # a cursor beyond any id would only overflow the database's integer
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
