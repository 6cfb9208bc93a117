"""`type: set_variable`: compute values from templates and keep them for later steps."""

from __future__ import annotations

import json
from typing import Any

from rillet.engine.context import RunContext
from rillet.result import StepResult
from rillet.workflow.templates import render_value


def run(step: Any, ctx: RunContext) -> StepResult:
    values = render_value(dict(step.variables), ctx.template_context())
    target = ctx.global_vars if step.scope == "global" else ctx.state
    target.update(values)
    return StepResult(step=step.name, text=json.dumps(values, ensure_ascii=False, default=str),
                      variables=values)
