"""Dead letters of jobu-queued: list, show, replay and discard them.

`jobu queue dead-letters …` and the admin (/dead-letters, /api/v1/dead-letters) call these.
Replay checks the message again against queue.yaml as it is now (after a handler was added
to a topic's allowed_handlers, say): the execution is written and the dead letter deleted in
one transaction, under the message's own dedupe key, so a replay can never run it twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobu.config import QueueConfig
from jobu.errors import InvalidStateError
from jobu.model import NewExecution
from jobu.operations.queue_messages import Record, to_execution
from jobu.store import Store
from jobu.store.queue import DeadLetter

__all__ = ["DeadLetter", "ReplayOutcome", "any_dead_letters", "discard", "list_dead_letters",
           "replay", "show"]


@dataclass(frozen=True)
class ReplayOutcome:
    """A replayed dead letter: the execution it became (None: it already had one)."""

    dead_letter_id: int
    execution_id: int | None


def list_dead_letters(store: Store, *, topic: str | None = None,
                      limit: int = 50) -> list[DeadLetter]:
    """Dead letters, newest first (of one topic when given), at most `limit`."""
    return store.dead_letter_list(topic=topic, limit=limit)


def any_dead_letters(store: Store) -> bool:
    """Whether jobu-queued has kept any dead letter (the admin then shows its page)."""
    return bool(store.dead_letter_list(limit=1))


def show(store: Store, dead_letter_id: int) -> DeadLetter:
    return store.dead_letter_get(dead_letter_id)


def discard(store: Store, dead_letter_id: int) -> None:
    store.dead_letter_discard(dead_letter_id)


def replay(store: Store, config: QueueConfig, dead_letter_id: int) -> ReplayOutcome:
    """Make the dead letter an execution if queue.yaml now accepts it; InvalidStateError
    with the reason (kept on the dead letter) when it still does not."""
    letter = store.dead_letter_get(dead_letter_id)
    record = Record(topic=letter.topic, partition=letter.partition, offset=letter.offset,
                    value=letter.raw, key=letter.key, headers=tuple(letter.headers))
    decision = to_execution(record, config.topics.get(letter.topic), config.max_message_bytes)
    if isinstance(decision, NewExecution) and decision.job_id is not None \
            and not store.cron_ids_existing([decision.job_id]):
        reason = f"job_id {decision.job_id} names no cron"
    elif isinstance(decision, NewExecution):
        return ReplayOutcome(dead_letter_id, store.dead_letter_replay(dead_letter_id, decision))
    else:
        reason = decision.reason
    if reason != letter.reason:
        store.dead_letter_set_reason(dead_letter_id, reason)
    raise InvalidStateError(f"dead letter {dead_letter_id} still cannot become an execution: "
                            f"{reason}")
