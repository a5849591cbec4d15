"""The handler the browser test retries: its first run fails, every later one succeeds.

`marker` (a file path in params) remembers that it has failed once, so that the failed
attempt stays in the job's history and the retry from the admin ends in SUCCESS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobu.handlers import handler
from jobu.handlers.context import JobContext

#: What the failed attempt says, for the test to find on the job page.
FIRST_RUN_ERROR = "fail_once: the first run fails on purpose"


@handler("fail_once")
def fail_once(ctx: JobContext, params: dict[str, Any]) -> dict[str, bool]:
    """Fail when `marker` does not exist yet (creating it), succeed when it does."""
    marker = Path(params["marker"])
    if not marker.exists():
        marker.touch()
        raise RuntimeError(FIRST_RUN_ERROR)
    return {"failed_before": True}
