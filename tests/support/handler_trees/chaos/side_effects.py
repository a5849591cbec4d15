"""A handler whose work leaves a trace outside the database, for the worker's chaos test.

``append_run`` appends one line per run to the file named by its ``file`` param::

    <execution id> <attempt> <pid> <run token>

in a single write() to a file opened with O_APPEND, so the lines of concurrent runs, in any
number of processes, never interleave, and a line written before its worker is killed with
SIGKILL stays (the kernel has it). It returns the attempt and the run token, so a test can
match the SUCCESS the database holds with the run that wrote the line. ``seconds`` (default
0) makes it sleep first, so that a kill finds it running.
"""

from __future__ import annotations

import os
import secrets

from jobu.handlers import handler


@handler("append_run")
def append_run(ctx, params):
    seconds = float(params.get("seconds", 0))
    if seconds > 0:
        ctx.wait(seconds)
    token = secrets.token_hex(8)
    line = f"{ctx.execution_id} {ctx.attempt} {os.getpid()} {token}\n".encode()
    fd = os.open(params["file"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return {"attempt": ctx.attempt, "token": token}
