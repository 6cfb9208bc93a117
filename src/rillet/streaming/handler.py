"""The handler protocol and the registry that builds handlers from YAML names.

A handler listens to one step's events. It never changes what the step returns. Its
methods are plain (not async) because they run on the per-token path; a handler with slow
work (a network callback) hands it off itself.

Each built-in handler declares a pydantic options model (extra="forbid"), so
`stream_handler_opts` is validated when the workflow loads, not ignored at run time.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from rillet import user_code
from rillet.events import Event
from rillet.result import StepResult


@runtime_checkable
class Handler(Protocol):
    def on_event(self, event: Event) -> None: ...
    def on_complete(self, result: StepResult) -> None: ...
    def on_error(self, error: BaseException, partial: StepResult) -> None: ...
    def close(self) -> None: ...


class BaseHandler:
    """Convenience base: every method does nothing. Subclass and override what you need."""

    name = "handler"

    def on_event(self, event: Event) -> None:
        pass

    def on_complete(self, result: StepResult) -> None:
        pass

    def on_error(self, error: BaseException, partial: StepResult) -> None:
        pass

    def close(self) -> None:
        pass


class HandlerOptions(BaseModel):
    """Base for handler option models: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class HandlerContext:
    step: str
    run_id: str = ""
    output_dir: Path = field(default_factory=lambda: Path("outputs"))
    # stream_buffer_size from the step; only sinks that batch (file) read it.
    buffer_size: int | None = None
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    quiet: bool = False


Factory = Callable[[HandlerOptions, HandlerContext], Handler]


@dataclass(frozen=True)
class HandlerSpec:
    name: str
    options: type[HandlerOptions]
    factory: Factory


_REGISTRY: dict[str, HandlerSpec] = {}


def register_handler(name: str, options: type[HandlerOptions], factory: Factory) -> None:
    _REGISTRY[name] = HandlerSpec(name, options, factory)


def handler_names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def _load_builtins() -> None:
    if "console" not in _REGISTRY:
        importlib.import_module("rillet.streaming.handlers")


def resolve(name: str) -> HandlerSpec:
    """A registered name, or a dotted path `pkg.module:Class` / `pkg.module.Class` to a
    handler class (options: its `Options` attribute if any, else any keys)."""
    _load_builtins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if "." not in name and ":" not in name:
        raise LookupError(
            f"unknown stream handler '{name}'; built-in handlers: {', '.join(handler_names())}"
            " (or give a dotted path to a handler class)")
    try:
        if user_code.is_checking():  # validating: the class is not imported
            user_code.check_reference(name)
            return HandlerSpec(name, _AnyOptions, _not_loaded)
        target = user_code.load_object(name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise LookupError(f"cannot import stream handler '{name}': {exc}") from exc
    options = getattr(target, "Options", None) or _AnyOptions
    return HandlerSpec(name, options, lambda opts, ctx: target(opts, ctx))


class _AnyOptions(HandlerOptions):
    model_config = ConfigDict(extra="allow")


def _not_loaded(options: HandlerOptions, ctx: HandlerContext) -> Handler:
    raise RuntimeError("a handler checked while validating is not loaded; run the workflow")


def validate_options(name: str, opts: dict[str, Any] | None) -> HandlerOptions:
    """Raises LookupError for an unknown handler, ValidationError for bad options."""
    return resolve(name).options.model_validate(opts or {})


def create_handler(name: str, opts: dict[str, Any] | HandlerOptions | None,
                   ctx: HandlerContext) -> Handler:
    spec = resolve(name)
    options = opts if isinstance(opts, HandlerOptions) else spec.options.model_validate(opts or {})
    return spec.factory(options, ctx)


__all__ = [
    "BaseHandler", "Handler", "HandlerContext", "HandlerOptions", "HandlerSpec",
    "ValidationError", "create_handler", "handler_names", "register_handler", "resolve",
    "validate_options",
]
