"""marshmallow field types for the configuration files: one YAML type each, and a message that
says what was expected and quotes what was written.

Written for marshmallow 3.18 (Debian 12) and 4.x alike: the field classes override only
``_deserialize``, whose signature both versions share.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import ValidationError, fields

from jobu.config.settings import FINAL_STATUSES
from jobu.model import Status


def show(value: Any) -> str:
    """A value as a message quotes it back: YAML spelling for scalars, the kind for the rest."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str | int | float):
        return repr(value)
    return repr(str(value))


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """"; did you mean 'x'?" naming the closest candidate, or "" when none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class TypedField(fields.Field):
    """A field that takes one YAML type and, given another, says what it expected and got."""

    expected = "a value"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error_messages["null"] = f"expected {self.expected}, got null"
        self.error_messages["required"] = "is required"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not self.accepts(value):
            raise ValidationError(f"expected {self.expected}, got {show(value)}")
        return self.convert(value)

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def convert(self, value: Any) -> Any:
        return value


class IntegerField(TypedField):
    """A whole number. YAML's true and false are refused, although Python counts them as ints."""

    expected = "an integer"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)


class FloatField(TypedField):
    """A finite number, whole or not, stored as a float."""

    expected = "a number"

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value))

    def convert(self, value: float) -> float:
        return float(value)


class TextField(TypedField):
    """A string that is not blank."""

    expected = "a string"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def convert(self, value: str) -> str:
        if not value.strip():
            raise ValidationError("must not be empty")
        return value


class BooleanField(TypedField):
    """true or false (YAML reads yes/no and on/off as these too)."""

    expected = "true or false"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class ScalarField(TypedField):
    """A string, number or boolean: a driver option, passed on as it is."""

    expected = "a string, number or boolean"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str | int | float)


class ChoiceField(TypedField):
    """One of a few words, matched regardless of case and returned in its canonical spelling."""

    def __init__(self, choices: tuple[str, ...], aliases: Mapping[str, str] | None = None,
                 **kwargs: Any) -> None:
        self.canonical = {choice.casefold(): choice for choice in choices}
        self.canonical.update({alias.casefold(): target
                               for alias, target in (aliases or {}).items()})
        self.expected = "one of " + ", ".join(repr(choice) for choice in choices)
        super().__init__(**kwargs)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value.casefold() in self.canonical

    def convert(self, value: str) -> str:
        return self.canonical[value.casefold()]


class SwitchField(ChoiceField):
    """true, false or another word of `choices` ("auto"), returned as the word: YAML reads an
    unquoted true or false as a boolean, which is taken as the word it spells."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool) or super().accepts(value)

    def convert(self, value: Any) -> str:
        if isinstance(value, bool):
            value = "true" if value else "false"
        return super().convert(value)


class StatusField(TypedField):
    """A final execution status, in any case, returned as a Status."""

    expected = "a final status (" + ", ".join(status.value for status in FINAL_STATUSES) + ")"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def convert(self, value: str) -> Status:
        names = [status.value for status in FINAL_STATUSES]
        if value.upper() not in names:
            raise ValidationError(f"expected {self.expected}, got {show(value)}"
                                  + did_you_mean(value.upper(), names))
        return Status(value.upper())


class ListField(fields.List):
    """A YAML list, returned as a tuple; a lone scalar is refused rather than wrapped."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise ValidationError(f"expected a list, got {show(value)}")
        return tuple(super()._deserialize(value, attr, data, **kwargs))


class MappingField(fields.Dict):
    """A YAML mapping whose keys and values are checked by fields of their own.

    Unlike marshmallow's Dict, the valid entries survive when others are not, so the loader can
    go on checking them (secrets, URLs, names used by other files) and report every problem in
    one go. Errors keep Dict's shape: ``{key: {"key": [...]}}`` or ``{key: {"value": ...}}``.
    """

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected a mapping, got {show(value)}")
        result: dict[Any, Any] = {}
        errors: dict[Any, Any] = {}
        for raw_key, raw_value in value.items():
            try:
                key = self.key_field.deserialize(raw_key, **kwargs)
            except ValidationError as error:
                errors[raw_key] = {"key": error.messages}
                continue
            try:
                result[key] = self.value_field.deserialize(raw_value, **kwargs)
            except ValidationError as error:
                errors[raw_key] = {"value": error.messages}
        if errors:
            raise ValidationError(errors, valid_data=result)
        return result


class SectionField(fields.Nested):
    """A nested mapping checked by a schema of its own."""

    def __init__(self, nested: Any, **kwargs: Any) -> None:
        super().__init__(nested, **kwargs)
        self.error_messages["null"] = "expected a mapping, got null"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected a mapping, got {show(value)}")
        return super()._deserialize(value, attr, data, **kwargs)
