"""How the CLI prints: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import sys
import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO


def plain(value: Any) -> Any:
    """`value` as JSON-ready data: dataclasses to dicts, enums to values, times to ISO."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def print_json(value: Any, out: TextIO | None = None) -> None:
    out = out or sys.stdout  # looked up at the call: tests and pipes may have replaced it
    json.dump(plain(value), out, indent=2, sort_keys=False)
    out.write("\n")


def when(value: datetime | None) -> str:
    """A time for a table: UTC, to the second."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f}s"
    if value < 3600:
        return f"{value:.0f}s"
    return f"{value / 3600:.1f}h"


def clip(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                out: TextIO | None = None) -> None:
    """Columns padded to their widest cell; the last column is not padded."""
    out = out or sys.stdout
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        out.write("  ".join(padded).rstrip() + "\n")


def print_fields(pairs: Sequence[tuple[str, Any]], out: TextIO | None = None) -> None:
    """`key: value` lines, keys aligned."""
    out = out or sys.stdout
    width = max(len(key) for key, _ in pairs)
    for key, value in pairs:
        out.write(f"{key.ljust(width)}  {'-' if value is None or value == '' else value}\n")


@contextlib.contextmanager
def warnings_printed(category: type[Warning]) -> Iterator[None]:
    """Print each `category` warning raised inside as one line, `jobu: warning: ...`, on
    standard error (the command goes on); other warnings are left as they were."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", category)
        yield
    for warning in caught:
        if issubclass(warning.category, category):
            print(f"jobu: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
