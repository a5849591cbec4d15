"""The store's part in two-phase commits: the decision log (jobu.db.decisions.DecisionLog).

Mixed into :class:`jobu.store.Store`, whose `database`, `_q` and `_time` it uses.
Each method is one short transaction of the jobs database, committed before it
returns; the coordinator counts on `decision_record` being durable then.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from jobu.db import Branch, Connection, Database, Decision
from jobu.errors import IntegrityError, SchemaError

OUTCOMES = ("commit", "rollback")


class DecisionLogMethods:
    """Store methods named decision_*: the two-phase decision log."""

    database: Database
    _q: dict[str, str]
    _time: Callable[[Any], datetime | None]
    _log_id: str | None = None

    def decision_log_id(self) -> str:
        """This log's id (8 hex digits, made by migration 0002); asked once, then kept."""
        if self._log_id is None:
            found = self.database.run(lambda c: c.fetch_value(self._q["decision_log_id"]),
                                      write=False)
            if found is None:
                raise SchemaError("the two-phase decision log has no id; run `jobu migrate`",
                                  database=self.database.name)
            self._log_id = str(found)
        return self._log_id

    def decision_record(self, txid: str, outcome: str, branches: Sequence[Branch],
                        now: datetime | None = None) -> Decision:
        """Record `outcome` ("commit" or "rollback") for `txid` unless a decision is
        recorded already; return the decision in force (the first one written)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"a decision is 'commit' or 'rollback', not {outcome!r}")
        params = {"txid": txid, "outcome": outcome, "now": now,
                  "branches": json.dumps([{"database": b.database, "gid": b.gid}
                                          for b in branches])}
        # IntegrityError: another writer decided first, and its decision is the one in force.
        with contextlib.suppress(IntegrityError):
            self.database.run(lambda c: c.execute(self._q["decision_insert"], params))
        decision = self.decision_get(txid)
        if decision is None:  # only pruning deletes a decision, and only a done one
            raise SchemaError(f"decision {txid} vanished as it was written",
                              database=self.database.name)
        return decision

    def decision_get(self, txid: str) -> Decision | None:
        row = self.database.run(lambda c: c.fetch_one(self._q["decision_get"], {"txid": txid}),
                                write=False)
        return None if row is None else self._decision(row)

    def decision_revoke(self, txid: str) -> bool:
        """Turn a commit not yet done into a rollback; True if it was turned."""
        return self.database.run(
            lambda c: c.execute(self._q["decision_revoke"], {"txid": txid})) > 0

    def decision_mark_done(self, txid: str, now: datetime | None = None) -> None:
        """Note that no branch of `txid` is left in doubt (the first time counts)."""
        self.database.run(lambda c: c.execute(self._q["decision_mark_done"],
                                              {"txid": txid, "now": now}))

    def decision_list_pending(self, limit: int = 500) -> list[Decision]:
        """Decisions not done yet, oldest first."""
        def work(conn: Connection) -> list[dict[str, Any]]:
            return conn.fetch_all(self._q["decision_list_pending"], {"limit": limit})
        return [self._decision(row) for row in self.database.run(work, write=False)]

    def decision_prune(self, older_than_days: int, now: datetime | None = None) -> int:
        """Delete the decisions done more than `older_than_days` ago; return how many."""
        return self.database.run(lambda c: c.execute(
            self._q["decision_prune"], {"days": int(older_than_days), "now": now}))

    def _decision(self, row: dict[str, Any]) -> Decision:
        branches = tuple(Branch(item["database"], item["gid"])
                         for item in json.loads(row["branches"]))
        return Decision(txid=row["txid"], outcome=row["outcome"], branches=branches,
                        decided_at=self._time(row["decided_at"]),
                        done_at=self._time(row["done_at"]))
