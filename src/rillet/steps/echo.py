"""`type: echo` (pipeline_ex's `test_echo`): the step's result is its `value`."""

from __future__ import annotations

import json
from typing import Any

from rillet.engine.context import RunContext
from rillet.errors import RilletError
from rillet.result import StepResult
from rillet.workflow.templates import render_value


class EchoFailed(RilletError):
    """An echo step with `fail: true`."""


def run(step: Any, ctx: RunContext) -> StepResult:
    if step.fail:
        raise EchoFailed(step.error_message or "echo step failed on purpose (fail: true)")
    value = render_value(step.value, ctx.template_context())
    return StepResult(step=step.name, text=as_text(value))


def as_text(value: Any) -> str:
    """Text as it is; anything else as JSON, so `steps.NAME.data` and `.result` read it."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           default=str)
