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

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

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


# --- what a handler prints and logs belongs to its execution ---------------------------------
#
# A runner thread marks itself while it runs a handler (execution_scope). A log line made on
# it without execution fields of its own (the handler's logging, or a library it calls) gets
# them and the "execution N (handler): " prefix from ExecutionFieldsFilter; what the handler
# prints goes through HandlerOutput, installed as sys.stdout and sys.stderr by the daemons,
# and becomes such log lines too. Other threads' output passes through untouched.

_running = threading.local()


@contextmanager
def execution_scope(execution_id: int, handler: str, attempt: int) -> Iterator[None]:
    """The calling thread runs this execution's handler until the block ends."""
    previous = getattr(_running, "fields", None)
    _running.fields = {"execution_id": execution_id, "handler": handler, "attempt": attempt}
    try:
        yield
    finally:
        for output in _installed_outputs:
            output.end_line()
        _running.fields = previous


class ExecutionFieldsFilter(logging.Filter):
    """Gives a line logged while a handler runs its execution's fields and prefix."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(_running, "fields", None)
        if fields is not None and not hasattr(record, "execution_id"):
            record.__dict__.update(fields)
            # Handler names are letters, digits and "_.-": the prefix holds no "%".
            record.msg = f"execution {fields['execution_id']} ({fields['handler']}): {record.msg}"
        return True


class HandlerOutput(io.TextIOBase):
    """sys.stdout or sys.stderr of a daemon: what a handler writes becomes log lines of its
    execution (one per line, at `level`); what other threads write goes to `stream`."""

    def __init__(self, stream: TextIO, level: int, logger: logging.Logger) -> None:
        self.stream = stream
        self.level = level
        self.logger = logger
        self._pending = threading.local()

    def write(self, text: str) -> int:
        if getattr(_running, "fields", None) is None or getattr(self._pending, "busy", False):
            return self.stream.write(text)
        lines = (getattr(self._pending, "text", "") + text).split("\n")
        self._pending.text = lines.pop()
        for line in lines:
            self._log(line)
        return len(text)

    def end_line(self) -> None:
        """Log what the handler wrote after its last line break (its run is over)."""
        rest = getattr(self._pending, "text", "")
        if rest:
            self._pending.text = ""
            self._log(rest)

    def _log(self, line: str) -> None:
        self._pending.busy = True  # a handler of the log that writes here: no loop
        try:
            self.logger.log(self.level, "%s", line)
        finally:
            self._pending.busy = False

    def flush(self) -> None:
        self.stream.flush()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()

    @property
    def encoding(self) -> Any:  # type: ignore[override]
        return self.stream.encoding


_installed_outputs: list[HandlerOutput] = []


def capture_handler_output() -> None:
    """Make what handlers print (stdout: INFO, stderr: WARNING) log lines of their
    executions. For a daemon, after setup_logging (whose handler keeps the real stderr)."""
    if _installed_outputs:
        return
    logger = logging.getLogger("jobu.job.output")
    sys.stdout = HandlerOutput(sys.stdout, logging.INFO, logger)
    sys.stderr = HandlerOutput(sys.stderr, logging.WARNING, logger)
    _installed_outputs.extend((sys.stdout, sys.stderr))


def setup_logging(level: str = "INFO", fmt: str = "text", *, journal: bool = False,
                  stream: TextIO | None = None) -> None:
    """Send jobu's log lines to stderr (or `stream`) in the chosen format.

    `journal` means stderr is systemd's journal: no timestamps, priority prefixes.
    Lines logged while a handler runs carry its execution (ExecutionFieldsFilter).
    """
    real_stderr = sys.stderr.stream if isinstance(sys.stderr, HandlerOutput) else sys.stderr
    handler = logging.StreamHandler(stream or real_stderr)
    handler.addFilter(ExecutionFieldsFilter())
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
