"""Which databases can take part in a two-phase commit, asked of the servers themselves.

For `jobu check-config` and the worker's start: PostgreSQL can when
max_prepared_transactions > 0, MySQL/MariaDB when this user may list prepared XA
transactions, SQLite never (decided without opening its file).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from jobu.db import open_database
from jobu.db.database import Database
from jobu.errors import DatabaseError
from jobu.model import DatabaseSpec

#: The longest wait for a server that does not answer, in seconds.
PROBE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Capability:
    """`can_prepare` is None when the database could not be asked."""

    can_prepare: bool | None
    why: str


def capability_of(database: Database) -> Capability:
    """Ask an open Database (its answer is kept by the Database)."""
    try:
        can_prepare, why = database.two_phase_capability()
    except DatabaseError as exc:
        return Capability(None, f"cannot tell: {exc}")
    return Capability(can_prepare, why)


def probe_specs(specs: Mapping[str, DatabaseSpec]) -> dict[str, Capability]:
    """Ask every database of `specs` at once, each through a connection of its own."""
    def probe(spec: DatabaseSpec) -> Capability:
        timeout = min(spec.connect_timeout_seconds, PROBE_TIMEOUT_SECONDS)
        brief = dataclasses.replace(spec, pool_size=1, pool_timeout_seconds=timeout,
                                    connect_timeout_seconds=timeout)
        database = open_database(brief)
        try:
            return capability_of(database)
        finally:
            database.close()

    if not specs:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(specs)),
                            thread_name_prefix="jobu-probe") as pool:
        answers = {name: pool.submit(probe, spec) for name, spec in specs.items()}
        return {name: answer.result() for name, answer in answers.items()}
