"""A two-phase commit coordinator that stops at its decision point until it is killed.

Run by tests/integration/test_twophase.py as ``python -m tests.support.twophase_coordinator
CONFIG.json``. It adds 10 to ``accounts.balance`` (row 1) on every database named in
``order``, in one transactional block, with the real decision log in between: only the
log's ``decision_record`` is wrapped, so the coordinator writes its decision (``pause``:
``after_decision``) or not (``before_decision``), tells the test by writing the txid to
``ready_file``, and waits there for SIGKILL. Every branch is prepared by then.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

from jobu.db import DatabaseRegistry, get_connection, transactional, use_databases
from jobu.model import DatabaseSpec
from jobu.store import Store, open_store


class PausingLog:
    """The store's decision log, stopping the coordinator at its decision point."""

    def __init__(self, store: Store, pause: str, ready_file: Path) -> None:
        self._store = store
        self._pause = pause
        self._ready_file = ready_file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def decision_record(self, txid: str, outcome: str, branches: Any) -> Any:
        if self._pause == "after_decision":
            self._store.decision_record(txid, outcome, branches)
        # Written aside, then renamed: the test never reads a file half written.
        partial = self._ready_file.with_suffix(".partial")
        partial.write_text(txid)
        partial.rename(self._ready_file)
        threading.Event().wait()  # until SIGKILL


def main(config_file: str) -> None:
    config = json.loads(Path(config_file).read_text())
    specs = {name: DatabaseSpec(**fields) for name, fields in config["databases"].items()}
    store = open_store(DatabaseSpec(**config["jobs"]))
    use_databases(DatabaseRegistry(specs),
                  decision_log=PausingLog(store, config["pause"], Path(config["ready_file"])))
    with transactional(*config["order"]):
        for name in config["order"]:
            get_connection(name).execute(
                "UPDATE accounts SET balance = balance + :amount WHERE id = 1", {"amount": 10})


if __name__ == "__main__":
    main(sys.argv[1])
