"""One way to say no: JSON ``{"error": {"code", "message", "field"}}`` to the API, a page to a
person. The code is stable for scripts; the message tells an operator what to do."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from marshmallow import ValidationError

from jobu.admin.cron_form import field_of_error
from jobu.errors import (
    AlreadyExistsError,
    DatabaseUnavailableError,
    InvalidInputError,
    InvalidStateError,
    JobuError,
    NotFoundError,
    SchemaError,
)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.headers.get(
        "Authorization", "").startswith("Bearer ")


def refuse(status: int, code: str, message: str, field: str | None = None) -> Any:
    """A refusal with `status`, as JSON or as the error page."""
    if wants_json():
        return jsonify(error={"code": code, "message": message, "field": field}), status
    return render_template("error.html", status=status, code=code, message=message), status


def status_of(error: JobuError) -> tuple[int, str]:
    """The HTTP status and error code that answer one of jobu's errors."""
    if isinstance(error, NotFoundError):
        return 404, "not_found"
    if isinstance(error, AlreadyExistsError):
        return 409, "already_exists"
    if isinstance(error, InvalidStateError):
        return 409, "invalid_state"
    if isinstance(error, InvalidInputError | ValueError):
        return 422, "invalid_input"
    if isinstance(error, DatabaseUnavailableError | SchemaError):
        return 503, "unavailable"
    return 500, "error"


def _jobu_error(error: JobuError) -> Any:
    status, code = status_of(error)
    field = getattr(error, "field", None) or field_of_error(error)
    return refuse(status, code, str(error), field)


def _validation_error(error: ValidationError) -> Any:
    """marshmallow's refusal of a body's shape: the first field and problem, in words."""
    messages = error.messages
    if isinstance(messages, dict) and messages:
        field, problems = next(iter(messages.items()))
        problem = problems[0] if isinstance(problems, list) else str(problems)
        if problem == "Unknown field.":
            return refuse(422, "invalid_input", f"unknown field {field!r}", field)
        if problem.startswith("Missing data"):
            return refuse(422, "invalid_input", f"{field} is required", field)
        return refuse(422, "invalid_input", f"{field}: {problem}", field)
    text = messages[0] if isinstance(messages, list) and messages else str(messages)
    return refuse(400, "bad_request", str(text))


def _not_found(error: Exception) -> Any:
    return refuse(404, "not_found", "no such page; see the menu above"
                  if not wants_json() else "no such endpoint under /api/v1")


def init_app(app: Flask) -> None:
    app.register_error_handler(JobuError, _jobu_error)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, lambda error: refuse(
        405, "method_not_allowed", f"{request.method} is not allowed on {request.path}"))
