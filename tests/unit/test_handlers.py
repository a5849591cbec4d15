"""Finding handlers: directories walked recursively, names unique, failures named."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobu.errors import HandlerError, InvalidInputError
from jobu.handlers import JobContext, discover_handlers, handler

TREES = Path(__file__).resolve().parent.parent / "support" / "handler_trees"


def test_discovery_finds_nested_modules_and_the_builtins():
    registry = discover_handlers([TREES / "good"])
    assert {"noop", "sleep", "always_fail", "class_style", "monthly_summary"} <= \
        set(registry.names())
    summary = registry.get("monthly_summary")
    assert summary.timeout_seconds == 120
    assert summary.source.endswith("reports/monthly/summary.py")


def test_a_duplicate_name_names_both_files():
    with pytest.raises(HandlerError) as caught:
        discover_handlers([TREES / "dup_a", TREES / "dup_b"])
    message = str(caught.value)
    assert "same_name" in message and "dup_a/first.py" in message and "dup_b/second.py" in message


def test_an_import_error_names_the_file():
    with pytest.raises(HandlerError, match=r"bad_import.*broken/bad_import.py.*module_that"):
        discover_handlers([TREES / "broken"])


def test_handler_modules_are_walked_as_packages():
    registry = discover_handlers(modules=["jobu.handlers"])
    assert registry.names() == ["noop", "sleep"]
    with pytest.raises(HandlerError, match="no_such_package"):
        discover_handlers(modules=["no_such_package"])


def test_function_and_class_handlers_are_invoked_with_context_and_params():
    registry = discover_handlers([TREES / "good"])
    ctx = JobContext(execution_id=7, handler_name="class_style", attempt=1)
    assert registry.get("class_style").invoke(ctx, {"a": 1}) == {"execution": 7, "got": {"a": 1}}
    assert registry.get("noop").invoke(ctx, {"b": 2}) == {"b": 2}


def test_params_schema_loads_or_refuses():
    spec = discover_handlers([TREES / "good"]).get("with_schema")
    assert spec.load_params({"month": "3"}) == {"month": 3}
    with pytest.raises(InvalidInputError, match="month"):
        spec.load_params({"month": "March"})


def test_the_decorator_refuses_what_cannot_be_a_handler():
    with pytest.raises(HandlerError):
        handler("")
    with pytest.raises(HandlerError, match="execute"):
        handler("x")(type("NoExecute", (), {}))


def test_context_wait_returns_early_when_cancelled():
    ctx = JobContext(execution_id=1, handler_name="h", attempt=1)
    ctx._cancel.set()
    assert ctx.cancelled and ctx.wait(30) is True
    with pytest.raises(ValueError):
        ctx.progress(2.0)
