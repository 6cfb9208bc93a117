"""`type: pipeline`: another workflow, from `pipeline_file` or written inline under
`pipeline`, run as one step. Its steps run in scope `NAME` (events and results are labelled
`NAME.step`), with their own steps, state and inputs: `inputs` maps the parent's values
in (templates), `outputs` picks what the step returns. A file that includes itself, or
nesting deeper than `config.max_depth`, is refused before anything runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rillet.errors import RilletError, WorkflowError
from rillet.workflow.caller_values import missing
from rillet.workflow.templates import render_value

CHILDREN = dict


async def run(step: Any, scope: Any, walker: Any, children: dict[str, Any]) -> str | None:
    workflow, source, base_dir = _load(step, scope)
    chain = [*scope.pipelines, source]
    if source in scope.pipelines:
        raise RilletError("nested pipelines form a cycle: " + " -> ".join(chain))
    if scope.depth >= step.config.max_depth:
        raise RilletError(f"nested pipelines go deeper than config.max_depth "
                          f"{step.config.max_depth}: " + " -> ".join(chain))
    parent = scope.template_context()
    given = render_value(dict(step.inputs), parent)
    inherit = step.config.inherit_context
    inputs = {**workflow.inputs, **(scope.inputs if inherit and not given else given)}
    global_vars = {**(scope.global_vars if inherit else {}), **workflow.global_vars}
    absent = missing(workflow, inputs, global_vars)
    if absent:
        raise RilletError(f"the nested pipeline '{workflow.name}' reads {', '.join(absent)}, "
                          f"which this step does not give (add them to its inputs:"
                          f"{' or set config.inherit_context: true' if not inherit else ''})")
    inner = scope.nested(inputs=inputs, base_dir=base_dir, pipeline_file=source,
                         workflow_name=workflow.name, global_vars=global_vars,
                         state=workflow.variables,
                         gemini_functions=workflow.gemini_functions)
    await walker.run_steps(workflow.steps, inner, children)
    if step.outputs is None:
        return None
    return json.dumps(_outputs(step.outputs, children), ensure_ascii=False, default=str)


def _load(step: Any, scope: Any) -> tuple[Any, str, Path]:
    from rillet.workflow.loader import load_workflow, workflow_from_data

    try:
        if step.pipeline_file is not None:
            path = scope.resolve(step.pipeline_file).resolve()
            return load_workflow(path), str(path), path.parent
        source = f"{scope.pipelines[-1] if scope.pipelines else 'workflow'}#{scope.label}"
        return workflow_from_data(step.pipeline, source), source, scope.base_dir
    except WorkflowError as exc:
        raise RilletError("the nested pipeline is invalid:\n" + "\n".join(exc.problems)) \
            from None


def _outputs(wanted: list[Any], children: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in wanted:
        path = item if isinstance(item, str) else item.path
        alias = path if isinstance(item, str) else (item.as_ or path)
        name, *keys = path.split(".")
        result = children.get(name)
        if result is None:
            raise RilletError(f"outputs: the nested pipeline has no result '{name}' "
                              f"(results: {', '.join(children) or 'none'})")
        whole = result.data if result.children is not None else None  # a container's texts
        value: Any = result.data if keys else whole if whole is not None else result.text
        for key in keys:
            if isinstance(value, dict) and key in value:
                value = value[key]
            else:
                raise RilletError(f"outputs: '{path}': no '{key}' in the JSON of '{name}'")
        found[alias] = value
    return found
