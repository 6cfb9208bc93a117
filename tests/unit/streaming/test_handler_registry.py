"""The handler registry: names and dotted paths, options validated up front."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rillet.streaming.handler import BaseHandler, HandlerContext, HandlerOptions, \
    create_handler, register_handler, resolve, validate_options


class CountOptions(HandlerOptions):
    every: int = 1


class Counter(BaseHandler):
    Options = CountOptions

    def __init__(self, options, ctx):
        self.options, self.ctx, self.count = options, ctx, 0

    def on_event(self, event):
        self.count += 1


@pytest.fixture(autouse=True)
def counter_handler():
    # Registered for these tests only: the registry is process-wide.
    from rillet.streaming import handler

    register_handler("counter-test", CountOptions, Counter)
    yield
    handler._REGISTRY.pop("counter-test", None)


def test_registered_handler_is_built_with_validated_options():
    handler = create_handler("counter-test", {"every": 3}, HandlerContext(step="s"))
    assert handler.options.every == 3 and handler.ctx.step == "s"


def test_unknown_option_is_rejected():
    with pytest.raises(ValidationError, match="evry"):
        validate_options("counter-test", {"evry": 3})


def test_dotted_path_handler_uses_its_options_model():
    spec = resolve(f"{__name__}:Counter")
    assert spec.options is CountOptions
    with pytest.raises(ValidationError):
        validate_options(f"{__name__}.Counter", {"nope": 1})


def test_unimportable_dotted_path_says_why():
    with pytest.raises(LookupError, match="cannot import stream handler"):
        resolve("no_such_module_xyz:Handler")
