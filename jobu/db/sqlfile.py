"""Named SQL statements in a ``.sql`` file beside a handler module.

The format is jobu's own (jobu/store/sql): a statement starts at a
``-- name: <name>`` line, the comment lines after it describe it, and it runs to
the next name; a trailing semicolon is dropped. One statement per name: the
drivers run one statement per call. Parameters are ``:name`` (jobu.db.paramstyle).

::

    -- name: create_orders
    CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, total NUMERIC(10, 2));

    -- name: order_by_id
    -- One order, or nothing.
    SELECT id, total FROM orders WHERE id = :id;
"""

from __future__ import annotations

import re
from pathlib import Path

NAME_LINE = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def load_sql(module_file: str | Path, file_name: str | None = None) -> dict[str, str]:
    """The statements of a ``.sql`` file, by name.

    `module_file` is the calling module's ``__file__``; the file read is the one
    beside it with the same stem (``orders.py`` → ``orders.sql``), or `file_name`
    in the same folder. Raises FileNotFoundError, or ValueError for a name
    defined twice or a file without any.
    """
    module = Path(module_file)
    path = module.with_name(file_name) if file_name else module.with_suffix(".sql")
    text = path.read_text(encoding="utf-8")
    statements: dict[str, str] = {}
    parts = NAME_LINE.split(text)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in statements:
            raise ValueError(f"{path}: statement {name!r} is defined twice")
        lines = [line for line in body.strip().splitlines() if not line.startswith("--")]
        statements[name] = "\n".join(lines).strip().rstrip(";").strip()
    if not statements:
        raise ValueError(f"{path}: no '-- name: <name>' line, so no statement")
    return statements
