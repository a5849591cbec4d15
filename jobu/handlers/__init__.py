"""Handlers: the business functions jobu runs, and how a worker finds them.

A handler is a function ``(ctx, params) -> result`` or a class with
``execute(self, params)`` (the instance gets ``self.ctx``), marked with
``@handler("name")``::

    from jobu import handler, BaseHandler

    @handler("send_report")
    def send_report(ctx, params):
        ctx.logger.info("sending to %s", params["to"])
        return {"sent": True}

    @handler("sync_orders", timeout_seconds=600, isolation="process")
    class SyncOrders(BaseHandler):
        def execute(self, params):
            ...

The decorator only labels the object. A worker builds its registry by importing
the modules under ``handler_paths`` (directories, recursively) and the packages
named in ``handler_modules``, and collecting what is labelled; two handlers with
one name, or a module that does not import, stop the worker's start with the
files named. The built-in handlers ``noop`` and ``sleep`` are always there.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from jobu.errors import HandlerError, InvalidInputError
from jobu.handlers.context import JobContext
from jobu.model import Isolation

__all__ = ["BaseHandler", "HandlerRegistry", "HandlerSpec", "JobContext", "discover_handlers",
           "handler"]

#: The attribute @handler sets on what it marks.
MARK = "__jobu_handler__"
BUILTIN_MODULES = ("jobu.handlers.builtin",)


class BaseHandler:
    """Base of class-style handlers: implement execute(params); `self.ctx` is the context."""

    ctx: JobContext

    def execute(self, params: dict[str, Any]) -> Any:
        raise HandlerError(f"{type(self).__name__} does not implement execute(params)")


@dataclass(frozen=True)
class HandlerSpec:
    """A handler as a worker knows it."""

    name: str
    target: Callable[..., Any] | type
    #: The file it was defined in (for error messages) and where to import it from.
    source: str
    module: str
    qualname: str
    #: Defaults the handler asks for; a cron or an enqueue may set their own.
    timeout_seconds: float | None = None
    isolation: Isolation | None = None
    #: A marshmallow schema (class or instance) the params must load with.
    params_schema: Any = None

    def load_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Params as the handler takes them; InvalidInputError when they do not fit."""
        if self.params_schema is None:
            return params
        from marshmallow import ValidationError
        schema = self.params_schema() if isinstance(self.params_schema, type) else \
            self.params_schema
        try:
            return schema.load(params)
        except ValidationError as error:
            raise InvalidInputError(f"invalid params for {self.name}: {error.messages}") \
                from None

    def invoke(self, ctx: JobContext, params: dict[str, Any]) -> Any:
        if isinstance(self.target, type):
            instance = self.target()
            instance.ctx = ctx
            return instance.execute(params)
        return self.target(ctx, params)


def handler(name: str, *, timeout_seconds: float | None = None,
            isolation: Isolation | str | None = None,
            params_schema: Any = None) -> Callable[[Any], Any]:
    """Mark a function or a BaseHandler subclass as the handler called `name`."""
    if not isinstance(name, str) or not name:
        raise HandlerError("@handler needs a name: @handler(\"send_report\")")

    def mark(target: Any) -> Any:
        if isinstance(target, type):
            if not callable(getattr(target, "execute", None)):
                raise HandlerError(f"handler class {target.__qualname__} needs execute(params)")
        elif not callable(target):
            raise HandlerError(f"@handler({name!r}) marks a function or a class")
        setattr(target, MARK, {"name": name, "timeout_seconds": timeout_seconds,
                               "isolation": Isolation(isolation) if isolation else None,
                               "params_schema": params_schema})
        return target
    return mark


class HandlerRegistry:
    """The handlers one worker serves, by name."""

    def __init__(self, specs: Iterable[HandlerSpec] = ()) -> None:
        self._specs: dict[str, HandlerSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: HandlerSpec) -> None:
        existing = self._specs.get(spec.name)
        if existing is not None and existing.target is not spec.target:
            raise HandlerError(f"two handlers are named {spec.name!r}: {existing.qualname} in "
                               f"{existing.source} and {spec.qualname} in {spec.source}")
        self._specs[spec.name] = spec

    def get(self, name: str) -> HandlerSpec | None:
        return self._specs.get(name)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs


def discover_handlers(paths: Iterable[str | Path] = (),
                      modules: Iterable[str] = ()) -> HandlerRegistry:
    """Import the handler modules and collect what @handler marked in them.

    `paths` are directories: each .py file below them is imported (the directory
    goes on sys.path, so a file a/b.py is the module a.b; a directory that is a
    package, with an __init__.py, is imported as that package). `modules` are importable
    packages or modules, walked recursively. HandlerError names the file that
    failed to import or the two files that define one name twice.
    """
    registry = HandlerRegistry()
    for module in _import_all(paths, modules):
        for spec in _marked_in(module):
            registry.add(spec)
    return registry


def _import_all(paths: Iterable[str | Path], modules: Iterable[str]) -> Iterator[ModuleType]:
    for name in BUILTIN_MODULES:
        yield importlib.import_module(name)
    for directory in paths:
        root = Path(directory).resolve()
        if not root.is_dir():
            raise HandlerError(f"handler path {root} is not a directory (worker.yaml "
                               "handler_paths)")
        # A directory that is itself a package is imported as that package (its modules
        # may import each other as handlers.x.y); any other directory is a root of modules.
        base = root.parent if (root / "__init__.py").is_file() else root
        if str(base) not in sys.path:
            sys.path.insert(0, str(base))
        for file in sorted(root.rglob("*.py")):
            relative = file.relative_to(base).with_suffix("")
            parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
            if parts and all(part.isidentifier() for part in parts):
                yield _import(".".join(parts), str(file))
    for name in modules:
        module = _import(name, name)
        yield module
        for info in pkgutil.walk_packages(getattr(module, "__path__", []), prefix=f"{name}."):
            yield _import(info.name, info.name)


def _import(name: str, where: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as error:  # any failure of business code stops the start
        raise HandlerError(f"cannot import handler module {name} ({where}): "
                           f"{type(error).__name__}: {error}") from error


def _marked_in(module: ModuleType) -> Iterator[HandlerSpec]:
    for value in vars(module).values():
        mark = getattr(value, MARK, None) if not isinstance(value, ModuleType) else None
        # Only where it is defined: an import of a handler into another module is no second one.
        if not isinstance(mark, dict) or getattr(value, "__module__", None) != module.__name__:
            continue
        yield spec_of(value)


def spec_of(target: Any) -> HandlerSpec:
    """The HandlerSpec of a function or class that @handler marked; HandlerError if none."""
    mark = getattr(target, MARK, None)
    if not isinstance(mark, dict):
        raise HandlerError(f"{getattr(target, '__qualname__', target)!r} is not marked with "
                           "@handler(\"name\")")
    module = getattr(target, "__module__", None) or "?"
    try:
        source = inspect.getsourcefile(target) or module
    except TypeError:
        source = module
    return HandlerSpec(
        name=mark["name"], target=target, source=source, module=module,
        qualname=target.__qualname__, timeout_seconds=mark["timeout_seconds"],
        isolation=mark["isolation"], params_schema=mark["params_schema"])
