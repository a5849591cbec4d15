"""Which handler a scheduled job runs: a name, or a function marked with @handler.

A schedule is stored in the database and outlives the process that made it; a
worker finds the handler by its name among the modules it loads. So a function is
taken for its @handler name, and a lambda or a function defined inside another one
(a closure) is refused: no worker could ever import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobu.errors import InvalidInputError
from jobu.handlers import MARK

__all__ = ["HandlerRef", "handler_name_of"]

#: A handler's name, or the function or class that @handler marked.
HandlerRef = str | Callable[..., Any] | type

_WHY = ("a scheduled job is stored in the database and outlives this process, and a worker "
        "finds its handler by name in the modules it loads")
_HOW = ("define it at the top level of a module the workers load (worker.yaml "
        "handler_paths), decorate it with @handler(\"name\"), and pass it or its name")


def handler_name_of(handler: HandlerRef) -> str:
    """The handler name of `handler`; InvalidInputError explains why it cannot be one."""
    if isinstance(handler, str):
        return handler
    if not callable(handler):
        raise InvalidInputError(f"handler must be a handler's name or a function marked with "
                                f"@handler, got {type(handler).__name__}")
    name = getattr(handler, "__name__", "")
    qualname = getattr(handler, "__qualname__", name) or repr(handler)
    if name == "<lambda>":
        raise InvalidInputError(f"a lambda cannot be a job's handler: {_WHY}; {_HOW}")
    if "<locals>" in qualname:
        raise InvalidInputError(f"{qualname} is defined inside a function, so it cannot be a "
                                f"job's handler: {_WHY}; {_HOW}")
    mark = getattr(handler, MARK, None)
    if not isinstance(mark, dict) or not mark.get("name"):
        raise InvalidInputError(f"{qualname} is not marked with @handler: {_WHY}; {_HOW}")
    return str(mark["name"])
