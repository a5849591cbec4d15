"""The named databases a process gives its handlers, each opened (and pooled) on first use.

Their connections take ``:name`` parameters on every dialect, as everything
handlers get from jobu.db does (jobu.db.paramstyle).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from jobu.db.database import Database
from jobu.errors import ConfigError
from jobu.model import DatabaseSpec


class DatabaseRegistry:
    """Databases by their name in database.yaml; thread-safe; close() closes them all."""

    def __init__(self, specs: Mapping[str, DatabaseSpec], allowed: Iterable[str] | None = None):
        names = set(specs) if allowed is None else set(allowed)
        self.specs = {name: spec for name, spec in specs.items() if name in names}
        self._open: dict[str, Database] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Database:
        """The database called `name`; ConfigError if this process was given none such."""
        with self._lock:
            database = self._open.get(name)
            if database is None:
                spec = self.specs.get(name)
                if spec is None:
                    known = ", ".join(sorted(self.specs)) or "none"
                    raise ConfigError(f"no database named {name!r} for this process (known: "
                                      f"{known}; see database.yaml and worker.yaml databases)")
                from jobu.db import open_database
                database = self._open[name] = open_database(spec, named_params=True)
            return database

    __call__ = get

    def close(self) -> None:
        with self._lock:
            opened, self._open = list(self._open.values()), {}
        for database in opened:
            database.close()
