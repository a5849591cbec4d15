"""/api/v1/dead-letters: jobu-queued's dead letters, one letter, replay and discard."""

from __future__ import annotations

from flask import jsonify, request

from jobu.admin import access
from jobu.admin.api import bp
from jobu.admin.api.openapi import documented, page_limit, query_parameter
from jobu.admin.api.params import limit
from jobu.admin.api.schemas import (
    DeadLetterPageSchema,
    DeadLetterSchema,
    DeadLetterSummarySchema,
    ReplayOutcomeSchema,
)
from jobu.admin.security import Role, requires
from jobu.admin.views.audit import audited, execution_made
from jobu.admin.views.dead_letters import queue_config_now
from jobu.operations import dead_letters


@bp.get("/dead-letters")
@documented("jobu-queued's dead letters, newest first, without their message",
            tag="dead letters", query=[
                query_parameter("topic", "only the dead letters of this topic"),
                page_limit("dead letters")], responses={200: DeadLetterPageSchema})
def list_dead_letters():
    """Newest first, of one `topic` when given, `limit` at most; `more` says whether
    there are older ones (the store has no cursor for dead letters: ask a larger limit)."""
    size = limit()
    found = dead_letters.list_dead_letters(access.store(),
                                           topic=request.args.get("topic") or None,
                                           limit=size + 1)
    return jsonify(items=DeadLetterSummarySchema(many=True).dump(found[:size]),
                   more=len(found) > size)


@bp.get("/dead-letters/<int:dead_letter_id>")
@documented("One dead letter with its message, key and headers", tag="dead letters",
            responses={200: DeadLetterSchema})
def get_dead_letter(dead_letter_id: int):
    return jsonify(DeadLetterSchema().dump(dead_letters.show(access.store(), dead_letter_id)))


@bp.post("/dead-letters/<int:dead_letter_id>/replay")
@requires(Role.OPERATOR, action=True)
@audited("dead_letter.replay", target="dead_letter_id", detail=execution_made)
@documented("Replay a dead letter, checked again against queue.yaml as it is now",
            tag="dead letters", responses={200: ReplayOutcomeSchema}, refusals=(409,))
def replay_dead_letter(dead_letter_id: int):
    """200 with the execution it became; 409 invalid_state with the reason when queue.yaml
    still refuses it (the dead letter is kept)."""
    outcome = dead_letters.replay(access.store(), queue_config_now(), dead_letter_id)
    return jsonify(ReplayOutcomeSchema().dump(outcome))


@bp.delete("/dead-letters/<int:dead_letter_id>")
@requires(Role.OPERATOR, action=True)
@audited("dead_letter.discard", target="dead_letter_id")
@documented("Discard a dead letter", tag="dead letters", responses={204: None})
def discard_dead_letter(dead_letter_id: int):
    dead_letters.discard(access.store(), dead_letter_id)
    return "", 204
