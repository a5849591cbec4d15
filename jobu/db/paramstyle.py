"""Handlers' parameter style: ``:name`` on every database.

Handlers write ``WHERE id = :id`` whatever the database. SQLite's driver takes that
style itself; psycopg and PyMySQL take ``%(id)s`` (pyformat), so :func:`to_pyformat`
rewrites the statement for them:

* ``:name`` becomes ``%(name)s`` — but not inside string literals, quoted
  identifiers, comments or PostgreSQL dollar-quoted bodies, and not in a
  PostgreSQL cast (``value::int`` stays as it is; ``:id::int`` is a parameter and
  a cast) or after a letter or digit (``arr[1:n]``, MySQL's ``@a:=1``);
* every ``%`` is doubled, inside literals too: both drivers read the whole
  statement as a format string once parameters are given, and jobu always gives
  them (an empty mapping at least), so ``LIKE 'a%'`` reaches the server intact.

The rewrite is lexical and per dialect, because their literals differ: a
backslash escapes a quote in every MySQL string but only in a PostgreSQL
``E'…'`` string. Results are cached, since handlers run the same statements over
and over.
"""

from __future__ import annotations

import functools
import re

#: What the scanner skips over unchanged (but for doubling '%'), per dialect.
_LITERALS = {
    "postgres": r"""
          (?<!\w)[eE]'(?:[^'\\]|\\.|'')*'       # E'…': backslash escapes
        | '(?:[^']|'')*'                         # standard string: '' is a quote
        | "(?:[^"]|"")*"                         # quoted identifier
        | \$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$   # $$…$$ and $tag$…$tag$
        | --[^\n]*
        | /\*.*?\*/
    """,
    "mysql": r"""
          '(?:[^'\\]|\\.|'')*'                   # strings: backslash escapes
        | "(?:[^"\\]|\\.|"")*"
        | `(?:[^`]|``)*`                         # quoted identifier
        | --(?=\s|$)[^\n]*                       # '--' is a comment only before a space
        | \#[^\n]*
        | /\*.*?\*/
    """,
}

_PATTERNS = {
    dialect: re.compile(rf"""
          (?P<literal>{literals})
        | (?P<cast>::)
        | (?<![\w:])(?P<param>:[A-Za-z_]\w*)
        | (?P<percent>%)
    """, re.VERBOSE | re.DOTALL)
    for dialect, literals in _LITERALS.items()
}


@functools.lru_cache(maxsize=1024)
def to_pyformat(sql: str, dialect: str) -> tuple[str, frozenset[str]]:
    """`sql` with ``:name`` parameters in the driver's ``%(name)s`` style, and the names.

    `dialect` is ``postgres`` or ``mysql``. The names let the caller report a
    missing value by name, before the driver fails with a bare KeyError.
    """
    pattern = _PATTERNS[dialect]
    parts: list[str] = []
    names: set[str] = set()
    position = 0
    for match in pattern.finditer(sql):
        parts.append(sql[position:match.start()])
        position = match.end()
        if match.group("param"):
            name = match.group("param")[1:]
            names.add(name)
            parts.append(f"%({name})s")
        elif match.group("literal"):
            parts.append(match.group("literal").replace("%", "%%"))
        elif match.group("cast"):
            parts.append("::")
        else:
            parts.append("%%")
    parts.append(sql[position:])
    return "".join(parts), frozenset(names)

