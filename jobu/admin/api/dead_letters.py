"""/api/v1/dead-letters: jobu-queued's dead letters, one letter, replay and discard."""

from __future__ import annotations

from flask import jsonify, request

from jobu.admin import access
from jobu.admin.api import bp
from jobu.admin.api.params import limit
from jobu.admin.api.schemas import DeadLetterSchema, ReplayOutcomeSchema
from jobu.admin.security import Role, requires
from jobu.admin.views.dead_letters import queue_config_now
from jobu.operations import dead_letters

#: What a dead letter of the list leaves out: its message (GET /dead-letters/ID has it).
LIST_EXCLUDES = ("message", "message_text")


@bp.get("/dead-letters")
def list_dead_letters():
    """Newest first, of one `topic` when given, `limit` at most; `more` says whether
    there are older ones (the store has no cursor for dead letters: ask a larger limit)."""
    size = limit()
    found = dead_letters.list_dead_letters(access.store(),
                                           topic=request.args.get("topic") or None,
                                           limit=size + 1)
    return jsonify(items=DeadLetterSchema(many=True, exclude=LIST_EXCLUDES).dump(found[:size]),
                   more=len(found) > size)


@bp.get("/dead-letters/<int:dead_letter_id>")
def get_dead_letter(dead_letter_id: int):
    return jsonify(DeadLetterSchema().dump(dead_letters.show(access.store(), dead_letter_id)))


@bp.post("/dead-letters/<int:dead_letter_id>/replay")
@requires(Role.OPERATOR, action=True)
def replay_dead_letter(dead_letter_id: int):
    """200 with the execution it became; 409 invalid_state with the reason when queue.yaml
    still refuses it (the dead letter is kept)."""
    outcome = dead_letters.replay(access.store(), queue_config_now(), dead_letter_id)
    return jsonify(ReplayOutcomeSchema().dump(outcome))


@bp.delete("/dead-letters/<int:dead_letter_id>")
@requires(Role.OPERATOR, action=True)
def discard_dead_letter(dead_letter_id: int):
    dead_letters.discard(access.store(), dead_letter_id)
    return "", 204
