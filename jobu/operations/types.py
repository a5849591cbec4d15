"""Type checks on values that come from Python callers, before the value checks.

The command line gives every option its type (argparse); a Python caller may pass
anything, and `max_retry="3"` must be refused with a sentence, not a TypeError
from deep inside a comparison.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

from jobu.errors import InvalidInputError

E = TypeVar("E", bound=enum.Enum)


def check_whole_number(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be a whole number, got {value!r}")


def check_number(value: Any, name: str, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{name} must be a number, got {value!r}")


def check_flag(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{name} must be True or False, got {value!r}")


def check_text(value: Any, name: str) -> None:
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string, got {value!r}")


def choice(kind: type[E], value: Any, name: str) -> E:
    """`value` as a member of the str-enum `kind`; InvalidInputError lists the choices."""
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in kind)
        raise InvalidInputError(f"{name} must be one of {choices}, got {value!r}") from None
