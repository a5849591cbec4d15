"""What one Kafka message becomes: an execution, or the reason it is a dead letter.

jobu-queued decides this for every message it receives, and a dead letter's replay
(jobu.operations.dead_letters: `jobu queue dead-letters replay`, the admin) decides it again
against queue.yaml as it is now, so the module sits in jobu.operations, below both. It holds
the message as a source hands it over (:class:`Record`; jobu.queued.source's adapter
interface speaks of it) and the checks on it.

The message format is the original jobu's: a JSON object
``{"handler_name": "...", "params": {...}, "job_id": 123}``. `handler_name` may be left out
when the topic names its handler; a message may name only the topic's handler or one of its
`allowed_handlers` (whoever can write to a topic must not be able to run any handler).
`params` is an object (default {}); `job_id` links the execution to that cron. Pure: no I/O.

The execution's dedupe key is the message's place, ``topic/partition/offset``, unless the
message has a ``dedupe_key`` header (:data:`DEDUPE_KEY_HEADER`, UTF-8 text): then that, so a
producer that sent one thing twice (a retry after a timeout, at two offsets) gets one
execution; the second is counted as a duplicate and the partition moves on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from jobu.config import TopicConfig
from jobu.errors import InvalidInputError
from jobu.model import NewExecution, ParamSource
from jobu.operations.enqueuing import new_execution

#: A partition of a topic: (topic, partition number).
TopicPartition = tuple[str, int]

#: The Kafka header whose value, when present, is the execution's dedupe key.
DEDUPE_KEY_HEADER = "dedupe_key"
#: The longest dedupe key the jobs database keeps (job_executions.dedupe_key).
MAX_DEDUPE_KEY_CHARS = 255


@dataclass(frozen=True)
class Record:
    """One message as a Source hands it over."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = field(default_factory=tuple)
    #: When it was produced, milliseconds since the epoch (None: unknown).
    timestamp_ms: int | None = None

    @property
    def topic_partition(self) -> TopicPartition:
        return (self.topic, self.partition)


@dataclass(frozen=True)
class Rejected:
    """A message that cannot become an execution, and why (said to an operator)."""

    reason: str


def dedupe_key(topic: str, partition: int, offset: int) -> str:
    """The execution's dedupe key: where the message is, the last line of defence against
    writing one message twice."""
    return f"{topic}/{partition}/{offset}"


def to_execution(record: Record, topic: TopicConfig | None,
                 max_message_bytes: int) -> NewExecution | Rejected:
    """The execution `record` asks for, or why it cannot have one."""
    if topic is None:
        return Rejected(f"topic {record.topic!r} is not in queue.yaml topics")
    raw = record.value
    if raw is None:
        return Rejected("the message has no value (a tombstone)")
    if len(raw) > max_message_bytes:
        return Rejected(f"the message is {len(raw)} bytes, more than max_message_bytes "
                        f"({max_message_bytes}) in queue.yaml")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        return Rejected(f"the message is not valid JSON: {error}")
    if not isinstance(body, dict):
        return Rejected(f"the message is a JSON {_kind(body)}, not an object")
    return _from_object(body, record, topic)


def _from_object(body: dict[str, Any], record: Record, topic: TopicConfig
                 ) -> NewExecution | Rejected:
    handler = body.get("handler_name", topic.handler)
    if handler is None:
        return Rejected(f"the message names no handler_name and topic {record.topic!r} has "
                        "no handler in queue.yaml")
    if not isinstance(handler, str):
        return Rejected(f"handler_name is a JSON {_kind(handler)}, not a string")
    if not topic.allows(handler):
        allowed = sorted({topic.handler, *topic.allowed_handlers} - {None})
        return Rejected(f"the message names handler {handler!r}, which topic {record.topic!r} "
                        f"does not allow (allowed: {', '.join(allowed)}); add it to the topic's "
                        "allowed_handlers in queue.yaml to accept it")
    params = body.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return Rejected(f"params is a JSON {_kind(params)}, not an object")
    dedupe = _dedupe_header(record)
    if isinstance(dedupe, Rejected):
        return dedupe
    job_id = body.get("job_id")
    if job_id is not None and (isinstance(job_id, bool) or not isinstance(job_id, int)
                               or job_id < 1):
        return Rejected(f"job_id must be a positive integer (a cron's id), got {job_id!r}")
    try:
        new = new_execution(
            handler, params, priority=topic.priority, queue=topic.queue,
            max_retry=topic.max_retry, timeout_seconds=topic.timeout_seconds,
            isolation=topic.isolation, source=ParamSource.EVENT,
            dedupe_key=dedupe or dedupe_key(record.topic, record.partition, record.offset))
    except InvalidInputError as error:
        return Rejected(str(error))
    return replace(new, job_id=job_id) if job_id is not None else new


def _dedupe_header(record: Record) -> str | Rejected | None:
    """The value of the message's last dedupe_key header, None when it has none."""
    values = [value for name, value in record.headers if name == DEDUPE_KEY_HEADER]
    if not values:
        return None
    try:
        text = (values[-1] or b"").decode()
    except UnicodeDecodeError:
        return Rejected(f"the {DEDUPE_KEY_HEADER} header is not UTF-8 text")
    if not text.strip():
        return Rejected(f"the {DEDUPE_KEY_HEADER} header is empty")
    if len(text) > MAX_DEDUPE_KEY_CHARS:
        return Rejected(f"the {DEDUPE_KEY_HEADER} header is {len(text)} characters long, more "
                        f"than the {MAX_DEDUPE_KEY_CHARS} a dedupe key may have")
    return text


def _kind(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number",
             type(None): "null", dict: "object"}
    return names.get(type(value), type(value).__name__)
