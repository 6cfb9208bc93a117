"""`type: set_variable`: compute values from templates and keep them for later steps.

`streaming: {enabled: true}` is pipeline_ex's result stream: pipeline_ex wrote such a
step's result to a file instead of keeping it in the run's context. rillet keeps the
values (later steps read them) and also streams them, as JSON, to
`<run folder>/streams/<step>.json`; the step's metrics name the file (`stream_file`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from rillet.engine.context import RunContext
from rillet.result import StepResult
from rillet.workflow.templates import render_value

_SAFE = re.compile(r"[^\w.\[\]-]")  # a step's label as a file name


def run(step: Any, ctx: RunContext) -> StepResult:
    values = render_value(dict(step.variables), ctx.template_context())
    target = ctx.global_vars if step.scope == "global" else ctx.state
    target.update(values)
    result = StepResult(step=step.name, text=json.dumps(values, ensure_ascii=False,
                                                        default=str), variables=values)
    if step.streaming is not None and step.streaming.enabled:
        name = _SAFE.sub("_", getattr(ctx, "label", "") or step.name)
        path = ctx.run_dir / "streams" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            json.dump(values, out, ensure_ascii=False, default=str)  # written piece by piece
        result.metrics = {"stream_file": str(path)}
    return result
