"""Named SQL, loaded from ``sql/<dialect>/queries.sql``.

A query starts at a ``-- name: <name>`` line; the comment lines after it describe
it, and the statement runs to the next name. Every dialect defines the same names,
so the store's Python never holds SQL text and never branches on SQL syntax.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

NAME_LINE = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    """The queries of one file, by name, without their trailing semicolon."""
    queries: dict[str, str] = {}
    parts = NAME_LINE.split(text)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        lines = [line for line in body.strip().splitlines() if not line.startswith("--")]
        queries[name] = "\n".join(lines).strip().rstrip(";").strip()
    return queries


@functools.cache
def load_queries(dialect: str) -> dict[str, str]:
    """The named queries of a dialect (``sqlite``, ``postgres`` or ``mysql``)."""
    text = resources.files("jobu.store").joinpath("sql", dialect, "queries.sql").read_text()
    return parse_queries(text)
