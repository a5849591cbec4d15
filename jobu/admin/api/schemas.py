"""The API's documents as marshmallow schemas: what it answers, and what it accepts.

Inputs are checked here for their shape only (an object, known keys, required ones);
their values are checked by jobu.operations, so the API refuses a bad value with the
sentence the CLI prints.
"""

from __future__ import annotations

import base64
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from jobu.model import CRON_SPEC_FIELDS


class CronSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    schedule = fields.String()
    schedule_in_words = fields.String()
    timezone = fields.String()
    handler_name = fields.String()
    handler_params = fields.Raw()
    is_enabled = fields.Boolean()
    allow_overlap = fields.Boolean()
    catch_up = fields.String()
    misfire_grace_seconds = fields.Integer()
    catch_up_max_runs = fields.Integer()
    dst_repeat = fields.String()
    jitter_seconds = fields.Integer()
    max_retry = fields.Integer()
    retry_backoff_seconds = fields.Float()
    timeout_seconds = fields.Float(allow_none=True)
    priority = fields.Integer()
    queue = fields.String()
    isolation = fields.String()
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CronRowSchema(Schema):
    """A cron of the list, with its last run, next fire time and managing file."""

    cron = fields.Nested(CronSchema)
    last_status = fields.String(allow_none=True)
    last_run_at = fields.DateTime(allow_none=True)
    next_fire = fields.DateTime(allow_none=True)
    managed_by = fields.String(allow_none=True)


class ExecutionSchema(Schema):
    id = fields.Integer()
    job_id = fields.Integer(allow_none=True)
    handler_name = fields.String()
    params = fields.Raw()
    param_source = fields.String()
    scheduled_time = fields.DateTime(allow_none=True)
    status = fields.String()
    attempt = fields.Integer()
    max_retry = fields.Integer()
    timeout_seconds = fields.Float(allow_none=True)
    run_after = fields.DateTime(allow_none=True)
    priority = fields.Integer()
    queue = fields.String()
    worker_id = fields.String(allow_none=True)
    cancel_requested = fields.Boolean()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    result = fields.Raw(allow_none=True)
    error_message = fields.String(allow_none=True)
    progress = fields.Float(allow_none=True)
    progress_note = fields.String(allow_none=True)
    created_at = fields.DateTime(allow_none=True)


class AttemptErrorSchema(Schema):
    attempt = fields.Integer()
    status = fields.String()
    error_message = fields.String()
    traceback = fields.String(allow_none=True)
    worker_id = fields.String(allow_none=True)
    occurred_at = fields.DateTime(allow_none=True)


class ExecutionDetailSchema(Schema):
    execution = fields.Nested(ExecutionSchema)
    attempt_errors = fields.List(fields.Nested(AttemptErrorSchema))


#: The body of a bulk retry or cancel: the filter keys of GET /jobs, values checked by
#: jobu.operations.executions (`from` and `to` as ISO 8601 text).
BulkFilterSchema = Schema.from_dict(
    {name: fields.String(allow_none=True)
     for name in ("status", "cron", "handler", "source", "from", "to")},
    name="BulkFilterSchema")


class WorkerSchema(Schema):
    id = fields.String()
    kind = fields.String()
    hostname = fields.String()
    pid = fields.Integer()
    pool_size = fields.Integer()
    running = fields.Integer()
    handlers = fields.List(fields.String())
    queues = fields.List(fields.String())
    version = fields.String()
    started_at = fields.DateTime(allow_none=True)
    last_heartbeat = fields.DateTime(allow_none=True)


class StatsSchema(Schema):
    name = fields.String(allow_none=True)
    total = fields.Integer()
    success = fields.Integer()
    failed = fields.Integer()
    timeout = fields.Integer()
    skipped = fields.Integer()
    missed = fields.Integer()
    last_run_at = fields.DateTime(allow_none=True)
    last_status = fields.String(allow_none=True)
    avg_duration_seconds = fields.Float(allow_none=True)
    p95_duration_seconds = fields.Float(allow_none=True)
    avg_start_lateness_seconds = fields.Float(allow_none=True)


class NextFireSchema(Schema):
    name = fields.String()
    at = fields.DateTime()


class StatusSchema(Schema):
    dispatchers = fields.List(fields.Nested(WorkerSchema))
    workers = fields.List(fields.Nested(WorkerSchema))
    crons = fields.Integer()
    enabled_crons = fields.Integer()
    next_fires = fields.List(fields.Nested(NextFireSchema))
    checked_at = fields.DateTime()


def _cron_input_fields(required: bool) -> dict[str, fields.Field]:
    made: dict[str, fields.Field] = {}
    essential = ("name", "schedule", "handler_name")  # a cron has them: never null
    for name in CRON_SPEC_FIELDS:
        made[name] = fields.Raw(required=required and name in essential,
                                allow_none=name not in essential)
    made["force"] = fields.Boolean(load_default=False)
    return made


#: A new cron: name, schedule and handler_name required, any other CronSpec field.
CronCreateSchema = Schema.from_dict(_cron_input_fields(True), name="CronCreateSchema")
#: Changes to a cron: any CronSpec field (`name` renames it).
CronEditSchema = Schema.from_dict(_cron_input_fields(False), name="CronEditSchema")


def load(schema: type[Schema], document: Any) -> dict[str, Any]:
    """`document` loaded by `schema`, unknown keys refused; ValidationError otherwise."""
    if not isinstance(document, dict):
        raise ValidationError("the request body must be a JSON object")
    return schema(unknown=RAISE).load(document)


_NULLABLE_TEXT = {"type": "string", "nullable": True}


def _base64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _utf8(data: bytes | None) -> str | None:
    """The bytes as text when they are UTF-8, else None (their base64 is beside them)."""
    if data is None:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


class DeadLetterSchema(Schema):
    """A dead letter of jobu-queued. Bytes are base64 (`key`, `message`, header values), with
    the same bytes as text beside them when they are UTF-8 (`key_text`, `message_text`)."""

    id = fields.Integer()
    group_id = fields.String()
    topic = fields.String()
    partition = fields.Integer()
    offset = fields.Integer()
    # `metadata` gives the OpenAPI document (admin.api.openapi) the type a function returns.
    key = fields.Function(lambda letter: _base64(letter.key), metadata=_NULLABLE_TEXT)
    key_text = fields.Function(lambda letter: _utf8(letter.key), metadata=_NULLABLE_TEXT)
    headers = fields.Function(lambda letter: [[name, _base64(value)]
                                              for name, value in letter.headers],
                              metadata={"type": "array", "items": {
                                  "type": "array", "items": _NULLABLE_TEXT}})
    message = fields.Function(lambda letter: _base64(letter.raw), metadata={"type": "string"})
    message_text = fields.Function(lambda letter: _utf8(letter.raw), metadata=_NULLABLE_TEXT)
    size = fields.Function(lambda letter: len(letter.raw), metadata={"type": "integer"})
    reason = fields.String()
    received_at = fields.DateTime(allow_none=True)


class ReplayOutcomeSchema(Schema):
    dead_letter_id = fields.Integer()
    #: The execution it became; null when its dedupe key already had one.
    execution_id = fields.Integer(allow_none=True)


# === The answers' envelopes, for the OpenAPI document (admin.api.openapi) ===


class DeadLetterSummarySchema(DeadLetterSchema):
    """A dead letter of the list: without its message (GET /dead-letters/ID has it)."""

    class Meta:
        exclude = ("message", "message_text")


class ErrorSchema(Schema):
    code = fields.String(metadata={"description": "stable, for scripts: bad_request, csrf, "
                                   "unauthenticated, forbidden, read_only, not_found, "
                                   "already_exists, invalid_state, invalid_input, unavailable"})
    message = fields.String(metadata={"description": "what to do, for a person"})
    field = fields.String(allow_none=True, metadata={
        "description": "the parameter or body field the refusal is about, when it names one"})


class ErrorEnvelopeSchema(Schema):
    """Every refusal of the API: {"error": {"code", "message", "field"}}."""

    error = fields.Nested(ErrorSchema)


class CronPageSchema(Schema):
    items = fields.List(fields.Nested(CronRowSchema))
    next = fields.String(allow_none=True, metadata={
        "description": "the `after` of the next page; null on the last one"})


class CronDetailSchema(Schema):
    cron = fields.Nested(CronSchema)
    managed_by = fields.String(allow_none=True, metadata={
        "description": "the crons file that owns this cron, if one does"})
    next_fires = fields.List(fields.DateTime(), metadata={
        "description": "the next fire times (none when the cron is disabled)"})


class CronRunSchema(Schema):
    cron = fields.String()
    execution_id = fields.Integer()


class ExecutionPageSchema(Schema):
    items = fields.List(fields.Nested(ExecutionSchema))
    next = fields.Integer(allow_none=True, metadata={
        "description": "the `before` of the next page; null on the last one"})


class WorkerListSchema(Schema):
    items = fields.List(fields.Nested(WorkerSchema))
    checked_at = fields.DateTime()


class FirePreviewSchema(Schema):
    """One previewed tick: UTC, in the cron's zone, its offset, its DST mark, and what the
    schedule's business calendar does to it (run, moved, skipped) and why."""

    at = fields.DateTime()
    local = fields.DateTime()
    utc_offset = fields.String()
    dst = fields.String(allow_none=True)
    outcome = fields.String(validate=validate.OneOf(["run", "moved", "skipped"]))
    reason = fields.String(allow_none=True)


class SchedulePreviewSchema(Schema):
    schedule = fields.String()
    timezone = fields.String()
    in_words = fields.String()
    next_fires = fields.List(fields.DateTime())
    fires = fields.List(fields.Nested(FirePreviewSchema))


class BulkOutcomeSchema(Schema):
    """What a bulk retry or cancel did: executions matched, acted on, and left as they were."""

    matched = fields.Integer()
    done = fields.Integer()
    skipped = fields.Integer()


class DeadLetterPageSchema(Schema):
    items = fields.List(fields.Nested(DeadLetterSummarySchema))
    more = fields.Boolean(metadata={"description": "whether older ones exist: ask a larger "
                                                   "`limit` (dead letters have no cursor)"})
