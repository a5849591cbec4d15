"""`jobu queue send`: produce well-formed messages, to check a pipeline end to end."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jobu.config import KafkaConfig
from jobu.errors import InvalidInputError
from jobu.queued.kafka import client_settings
from jobu.queued.source import SourceUnavailableError
from jobu.validation import check_enqueue_count


def message_body(handler: str | None, params: Mapping[str, Any] | None) -> bytes:
    """A message in the original format: {"handler_name": …, "params": {…}}."""
    if params is not None and not isinstance(params, Mapping):
        raise InvalidInputError(f"--params must be a JSON object, got {json.dumps(params)}")
    body: dict[str, Any] = {}
    if handler is not None:
        body["handler_name"] = handler
    body["params"] = dict(params or {})
    return json.dumps(body, separators=(",", ":")).encode()


def send(kafka: KafkaConfig, topic: str, body: bytes, *, key: str | None = None,
         count: int = 1, timeout_seconds: float = 30.0) -> list[tuple[int, int]]:
    """Produce `count` copies of `body`; the (partition, offset) each was written at."""
    check_enqueue_count(count)
    from kafka import KafkaProducer
    from kafka.errors import KafkaError
    try:
        producer = KafkaProducer(acks="all", **client_settings(kafka))
    except KafkaError as error:
        raise SourceUnavailableError(f"cannot reach the Kafka brokers: {error}") from error
    try:
        futures = [producer.send(topic, value=body,
                                 key=key.encode() if key is not None else None)
                   for _ in range(count)]
        producer.flush(timeout_seconds)
        written = [future.get(timeout_seconds) for future in futures]
    except KafkaError as error:
        raise SourceUnavailableError(f"sending to topic {topic!r} failed: {error}") from error
    finally:
        producer.close(timeout_seconds)
    return [(meta.partition, meta.offset) for meta in written]
