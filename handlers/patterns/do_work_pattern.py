"""patterns/do_work_pattern: a class handler whose execute() frames a transactional do_work().

Runs on `sqlite_2` (SQLite), which the example database.yaml names.

The original jobu's class handlers split the frame from the work, and so does
this one: ``execute(params)`` checks the parameters, loops, reports progress and
stops when the job is cancelled; ``do_work(batch_size)`` is one unit of work,
``@transactional``, that completes one batch of tasks. Each batch commits on
its own, so a job stopped half-way keeps what it finished and the next run
carries on from there.

Result, first run: ``{"processed": 25, "done": 25}`` (the 25 sample tasks are
seeded once); every later run: ``{"processed": 0, "done": 25}``.
"""

from __future__ import annotations

from typing import Any

from handlers.support import create_tables, require_database
from jobu.db import get_connection, load_sql, transactional
from jobu.errors import PermanentError
from jobu.handlers import BaseHandler, handler

DATABASE = "sqlite_2"
SQL = load_sql(__file__)
SAMPLE_TASKS = 25


@handler("do_work_pattern")
class DoWorkPattern(BaseHandler):
    """Complete the pending sample tasks, `batch_size` (default 10) per transaction."""

    def execute(self, params: dict[str, Any]) -> dict[str, int]:
        batch_size = int(params.get("batch_size", 10))
        if batch_size < 1:
            raise PermanentError(f"batch_size must be 1 or more, got {batch_size}")
        require_database(self.ctx, DATABASE, "sqlite")
        create_tables(DATABASE, SQL)
        self.seed()
        processed = 0
        while not self.ctx.cancelled:
            completed = self.do_work(batch_size)
            if not completed:
                break
            processed += completed
            self.ctx.progress(min(1.0, processed / SAMPLE_TASKS), f"{processed} tasks done")
        return {"processed": processed, "done": self.count_done()}

    @transactional(DATABASE)
    def do_work(self, batch_size: int) -> int:
        """Complete one batch of pending tasks; return how many."""
        conn = get_connection(DATABASE)
        tasks = conn.fetch_all(SQL["pending_tasks"], {"limit": batch_size})
        for task in tasks:
            conn.execute(SQL["complete_task"], {"id": task["id"], "result": task["payload"] * 2})
        return len(tasks)

    @transactional(DATABASE)
    def seed(self) -> None:
        conn = get_connection(DATABASE)
        for task_id in range(1, SAMPLE_TASKS + 1):
            conn.execute(SQL["seed_task"], {"id": task_id, "payload": task_id})

    @transactional(DATABASE)
    def count_done(self) -> int:
        return get_connection(DATABASE).fetch_value(SQL["count_done"])
