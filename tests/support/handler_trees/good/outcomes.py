"""Handlers whose outcomes the worker tests check, one per kind of ending."""

from __future__ import annotations

import threading

from marshmallow import Schema, fields

from jobu.errors import PermanentError, RetryLater
from jobu.handlers import BaseHandler, handler


@handler("always_fail")
def always_fail(ctx, params):
    raise ValueError(f"boom on attempt {ctx.attempt}")


@handler("permanent")
def permanent(ctx, params):
    raise PermanentError("the input file is corrupt; retrying cannot help")


@handler("retry_later")
def retry_later(ctx, params):
    raise RetryLater(float(params.get("delay", 30)), "the upstream is not ready")


@handler("non_json")
def non_json(ctx, params):
    return {1, 2, 3}


@handler("sized_result")
def sized_result(ctx, params):
    return {"text": "x" * int(params["chars"])}


class ReportParams(Schema):
    month = fields.Integer(required=True)


@handler("with_schema", params_schema=ReportParams)
def with_schema(ctx, params):
    return {"month": params["month"]}


@handler("progress")
def progress(ctx, params):
    ctx.progress(0.5, "half way")
    return "done"


@handler("hang")
def hang(ctx, params):
    """Ignores cancellation: sleeps its full time."""
    threading.Event().wait(float(params.get("seconds", 10)))
    return "woke up"


@handler("class_style")
class ClassStyle(BaseHandler):
    def execute(self, params):
        return {"execution": self.ctx.execution_id, "got": params}


@handler("talkative")
def talkative(ctx, params):
    """Prints (stdout and stderr, a last line without a line break) and logs through a
    library's logger, as handlers do; the worker must attribute all of it to the execution."""
    import logging
    import sys
    print("rows read:", params.get("rows", 0))
    print("almost done", file=sys.stderr)
    logging.getLogger("some.library").warning("the library has a word")
    sys.stdout.write("no line break at the end")
    return {"ok": True}
