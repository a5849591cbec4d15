"""Log lines for journald and for a terminal: one line per event, on stderr.

Under systemd, journald stamps each line with time, unit and PID, so jobu writes
no timestamp of its own and prefixes each line with its syslog priority (``<3>``),
which journald turns into the entry's priority (colours, ``journalctl -p err``).
In a terminal the lines carry a timestamp. ``log_format: json`` gives one JSON
object per line instead, for log shippers.

Lines about an execution pass its identity as ``extra`` (see EXECUTION_FIELDS), so
that JSON output has them as fields; the text of the message names them too.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

#: Fields a log call may pass in `extra` to describe the execution it is about.
EXECUTION_FIELDS = ("execution_id", "handler", "attempt", "cron", "outcome", "duration")

#: syslog priorities, which journald reads from a "<N>" prefix on each line.
SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
                   logging.CRITICAL: 2}


class TextFormatter(logging.Formatter):
    def __init__(self, *, timestamps: bool, journal: bool) -> None:
        super().__init__()
        self.timestamps = timestamps
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.getMessage()}"
        if record.exc_info:
            # One event, one entry: the traceback stays on the same journal entry.
            text += "\n" + self.formatException(record.exc_info)
        if self.timestamps:
            stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            text = f"{stamp[:-3]}Z {text}"
        if self.journal:
            priority = SYSLOG_PRIORITY.get(record.levelno, 6)
            text = "\n".join(f"<{priority}>{line}" for line in text.splitlines())
        return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EXECUTION_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str = "INFO", fmt: str = "text", *, journal: bool = False,
                  stream: TextIO | None = None) -> None:
    """Send jobu's log lines to stderr (or `stream`) in the chosen format.

    `journal` means stderr is systemd's journal: no timestamps, priority prefixes.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(timestamps=not journal, journal=journal))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # psycopg_pool logs each failed reconnection attempt; jobu reports an outage once.
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    logging.getLogger("kafka").setLevel(max(logging.WARNING, root.level))
