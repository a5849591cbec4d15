"""The cron form: from posted text to the fields jobu.operations.crons checks, and each refusal
back beside the field it is about.

The form converts only what is plainly a number or a box ticked; any other text goes to
the operations layer as typed, which refuses it with the sentence the CLI and the Client
give ("max_retry must be a whole number, got 'x'").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobu.errors import ScheduleError
from jobu.model import CRON_SPEC_FIELDS, CronSpec
from jobu.validation import parse_json_object

#: The form's fields, in the order the page shows them (CronSpec's names).
FIELDS = ("name", "description", "schedule", "timezone", "handler_name", "handler_params",
          "is_enabled", "allow_overlap", "max_retry", "retry_backoff_seconds", "timeout_seconds",
          "priority", "queue", "isolation", "catch_up", "misfire_grace_seconds",
          "catch_up_max_runs", "dst_repeat", "jitter_seconds")
CHECKBOXES = ("is_enabled", "allow_overlap")
WHOLE_NUMBERS = ("max_retry", "priority", "misfire_grace_seconds", "catch_up_max_runs",
                 "jitter_seconds")
NUMBERS = ("retry_backoff_seconds",)
#: What the params box is called in its error sentences.
PARAMS_NAME = "params"

#: Which field a refusal is about, from the words it starts with or contains: the
#: operations layer's sentences name the value they refuse.
_FIELD_OF_SENTENCE = [
    (re.compile(r"^cron name|^a cron named|^cron '"), "name"),
    (re.compile(r"^handler name|no running worker serves handler"), "handler_name"),
    (re.compile(r"^queue name"), "queue"),
    (re.compile(r"time zone"), "timezone"),
    (re.compile(r"^no calendar named"), "schedule"),  # the schedule's `calendar NAME`
    (re.compile(rf"^{PARAMS_NAME} |^handler_params"), "handler_params"),
    (re.compile(r"^timeout"), "timeout_seconds"),
    *[(re.compile(rf"^{name}\b"), name) for name in CRON_SPEC_FIELDS],
]


@dataclass
class CronForm:
    """What the form shows: the values as typed, and errors by field ('' for the form)."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: CronSpec) -> CronForm:
        """The form filled with a cron's settings."""
        values = {name: getattr(spec, name) for name in FIELDS}
        values["handler_params"] = json.dumps(spec.handler_params, indent=2)
        values["timeout_seconds"] = "" if spec.timeout_seconds is None \
            else f"{spec.timeout_seconds:g}"
        values["retry_backoff_seconds"] = f"{spec.retry_backoff_seconds:g}"
        return cls({k: v if isinstance(v, bool) else str(v) for k, v in values.items()})

    @classmethod
    def posted(cls, form: Mapping[str, str]) -> CronForm:
        values: dict[str, Any] = {name: form.get(name, "").strip() for name in FIELDS}
        for name in CHECKBOXES:
            values[name] = name in form
        return cls(values)

    def fields(self) -> dict[str, Any]:
        """The values as spec fields (name excluded): numbers made numbers where they are."""
        typed: dict[str, Any] = {}
        for name in FIELDS:
            value = self.values[name]
            if name in WHOLE_NUMBERS:
                value = int(value) if re.fullmatch(r"-?\d+", value) else value
            elif name in NUMBERS or name == "timeout_seconds":
                value = _number(value)
            elif name == "handler_params":
                value = parse_json_object(value or "{}", PARAMS_NAME)
            elif name == "timezone" and value == "":
                value = None
            typed[name] = value
        typed.pop("name")
        return typed

    def add_error(self, error: Exception) -> None:
        """Put a refusal beside its field ('' when it is about the form as a whole)."""
        self.errors[field_of_error(error) or ""] = str(error)


def _number(text: str) -> Any:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def field_of_error(error: Exception) -> str | None:
    """The cron field a refusal is about: schedule errors by their type, the rest by the
    value their sentence names; None when it names none."""
    sentence = str(error)
    if isinstance(error, ScheduleError) and "time zone" not in sentence:
        return "schedule"
    if "would never fire" in sentence:
        return "schedule"
    return field_of(sentence)


def field_of(sentence: str) -> str | None:
    """The form field a refusal is about, or None for the form as a whole."""
    for pattern, name in _FIELD_OF_SENTENCE:
        if pattern.search(sentence):
            return name if name in FIELDS else None
    return None
