"""/dead-letters: the messages jobu-queued could not turn into executions, one letter's page
with its raw bytes, and the replay and discard actions (jobu.operations.dead_letters).

The store lists dead letters newest first up to a limit (no keyset cursor), so the list pages
by a growing limit ("Show more") rather than by "Older" pages.
"""

from __future__ import annotations

import base64
import unicodedata
from dataclasses import dataclass

from flask import Blueprint, flash, redirect, render_template, request, url_for

from jobu.admin import access
from jobu.admin.security import Role, current_user, requires
from jobu.admin.views.audit import audited, back_to, execution_made
from jobu.config import QueueConfig, load_config
from jobu.errors import ConfigError, InvalidInputError, InvalidStateError, JobuError
from jobu.operations import dead_letters

bp = Blueprint("dead_letters", __name__)

#: The most dead letters one list page shows ("Show more" doubles the limit up to it).
MAX_LIMIT = 1000
#: The most bytes of a message the page shows (the API gives all of them).
SHOWN_BYTES = 64 * 1024


@dataclass(frozen=True)
class Shown:
    """Bytes as a page shows them: as text when they are UTF-8 (without control characters
    other than tabs and line ends, which a page would not show), else hex (and base64)."""

    size: int
    #: How many of them the page shows (all but of a very large message).
    shown: int
    text: str | None
    hex: str
    base64: str
    clipped: bool

    @classmethod
    def of(cls, data: bytes | None, limit: int = SHOWN_BYTES) -> Shown | None:
        if data is None:
            return None
        part = data[:limit]
        try:
            text: str | None = data.decode()[:limit]
        except UnicodeDecodeError:
            text = None
        if text is not None and any(unicodedata.category(char) == "Cc" and char not in "\t\n\r"
                                    for char in text):
            text = None
        rows = [part[start:start + 16].hex(" ") for start in range(0, len(part), 16)]
        return cls(size=len(data), shown=len(part), text=text, hex="\n".join(rows),
                   base64=base64.b64encode(part).decode("ascii"), clipped=len(data) > limit)

    @property
    def short(self) -> str:
        """One line for a table: the text, or ``hex:`` and the bytes."""
        if self.text is not None:
            return self.text
        return "hex: " + self.hex.replace("\n", " ")


def queue_config_now() -> QueueConfig:
    """queue.yaml as it is now: a replay checks the message against the file an operator has
    just fixed, not the one this process read when it started (as `jobu queue dead-letters
    replay` does, a new process each time)."""
    try:
        return load_config(access.config().config_dir, secrets_of=()).queue
    except ConfigError as error:
        raise InvalidStateError(f"the configuration does not load, so nothing was replayed: "
                                f"{error}") from None


def show_dead_letters_link() -> bool:
    """Whether the menu shows "Dead letters": queue.yaml enables jobu-queued, or some
    dead letter exists (kept from when it was enabled, or from another host's queue.yaml)."""
    if current_user() is None:
        return False
    if access.config().queue.enabled:
        return True
    try:
        return dead_letters.any_dead_letters(access.store())
    except JobuError:  # the database does not answer: the page says so, the menu need not
        return False


@bp.app_context_processor
def menu() -> dict:
    return {"show_dead_letters_link": show_dead_letters_link}


def _limit() -> int:
    text = request.args.get("limit", "").strip()
    if not text:
        return access.page_size()
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be a whole number between 1 and {MAX_LIMIT}, "
                                f"got {text!r}")
    return int(text)


@bp.get("/dead-letters")
def list_page():
    topic = request.args.get("topic", "").strip()
    error, letters, more, limit = None, [], False, access.page_size()
    try:
        limit = _limit()
        letters = dead_letters.list_dead_letters(access.store(), topic=topic or None,
                                                 limit=limit + 1)
        more, letters = len(letters) > limit, letters[:limit]
    except InvalidInputError as refused:
        error = str(refused)
    rows = [(letter, Shown.of(letter.key, 80)) for letter in letters]
    return render_template(
        "dead_letters/list.html", rows=rows, topic=topic, error=error, more=more,
        more_limit=min(limit * 2, MAX_LIMIT) if limit < MAX_LIMIT else None,
        topics=sorted(access.config().queue.topics),
        enabled=access.config().queue.enabled), 200 if error is None else 400


@bp.get("/dead-letters/<int:dead_letter_id>")
def detail(dead_letter_id: int):
    letter = dead_letters.show(access.store(), dead_letter_id)
    return render_template(
        "dead_letters/detail.html", letter=letter, message=Shown.of(letter.raw),
        key=Shown.of(letter.key),
        headers=[(name, Shown.of(value)) for name, value in letter.headers])


@bp.post("/dead-letters/<int:dead_letter_id>/replay")
@requires(Role.OPERATOR, action=True)
@audited("dead_letter.replay", target="dead_letter_id", detail=execution_made,
         refused=back_to("dead_letters.detail"))
def replay(dead_letter_id: int):
    try:
        outcome = dead_letters.replay(access.store(), queue_config_now(), dead_letter_id)
    except InvalidStateError as refused:
        flash(f"{refused}. The dead letter is kept.")
        return redirect(url_for("dead_letters.detail", dead_letter_id=dead_letter_id))
    if outcome.execution_id is None:
        flash(f"Dead letter {dead_letter_id}: its execution already existed; "
              "the dead letter was removed.")
        return redirect(url_for("dead_letters.list_page"))
    flash(f"Dead letter {dead_letter_id} is now job {outcome.execution_id}.")
    return redirect(url_for("jobs.detail", execution_id=outcome.execution_id))


@bp.get("/dead-letters/<int:dead_letter_id>/discard")
@requires(Role.OPERATOR, action=True)
def confirm_discard(dead_letter_id: int):
    letter = dead_letters.show(access.store(), dead_letter_id)
    return render_template("dead_letters/discard.html", letter=letter)


@bp.post("/dead-letters/<int:dead_letter_id>/discard")
@requires(Role.OPERATOR, action=True)
@audited("dead_letter.discard", target="dead_letter_id")
def discard(dead_letter_id: int):
    dead_letters.discard(access.store(), dead_letter_id)
    flash(f"Dead letter {dead_letter_id} discarded; its message will not run.")
    return redirect(url_for("dead_letters.list_page"))
