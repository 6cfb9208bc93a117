"""The values a workflow reads but does not set itself: `inputs.NAME` it declares no default
for, and `global_vars.NAME` that neither its global_vars nor a set_variable step (scope:
global) sets. Whoever runs it must give them: `--input NAME=VALUE` (or `inputs=` of the
API) for inputs, a parent pipeline step's `inputs:` and, with config.inherit_context, its
global_vars. pipeline_ex's nested-pipeline fixtures are files of this kind.

`rillet validate` notes them; a run without them is refused before any step starts, so
the failure is one clear line rather than a step that fails half-way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from rillet.errors import RunRefused
from rillet.workflow import conditions, templates
from rillet.workflow.schema import ContainerBase, PipelineStep, SetVariableStep

_CONDITION_KEYS = ("condition", "break_condition", "continue_condition")


def needed(workflow: Any) -> list[tuple[str, str]]:
    """(root, name) pairs, in the order first read: ("inputs", "item_count"), …"""
    steps = [step for top in workflow.steps for step in _tree(top)]
    global_vars = set(workflow.global_vars) | {
        str(name) for step in steps if isinstance(step, SetVariableStep)
        and step.scope == "global" for name in step.variables}
    have = {"inputs": set(workflow.inputs), "global_vars": global_vars}
    found: dict[tuple[str, str], None] = {}
    for text in _template_texts(steps):
        try:
            references = templates.check(text)
        except templates.TemplateError:
            continue  # validation reports it
        for root, key in references:
            if root in have and key and key not in have[root] and not _guarded(text, root, key):
                found[(root, key)] = None
    for spec in _conditions(steps):
        try:
            paths = conditions.check_spec(spec).paths
        except conditions.ConditionError:
            continue
        for path in paths:
            if len(path) > 1 and path[0] in have and path[1] not in have[path[0]]:
                found[(path[0], path[1])] = None
    return list(found)


def note(workflow: Any) -> str | None:
    """What `rillet validate` says about them, or None."""
    wanted = needed(workflow)
    if not wanted:
        return None
    inputs = [name for root, name in wanted if root == "inputs"]
    parts = []
    if inputs:
        parts.append(f"reads {', '.join(f'inputs.{n}' for n in inputs)}, which the caller "
                     f"gives (--input NAME=VALUE, or the inputs: of a pipeline step)")
    shared = [name for root, name in wanted if root == "global_vars"]
    if shared:
        parts.append(f"reads {', '.join(f'global_vars.{n}' for n in shared)}, which only a "
                     f"parent pipeline step with config.inherit_context: true gives")
    return "; ".join(parts) + "; a run without them is refused"


def missing(workflow: Any, inputs: dict[str, Any],
            global_vars: dict[str, Any] | None = None) -> list[str]:
    """The needed values that `inputs` and `global_vars` (a parent's) do not hold."""
    given = {"inputs": inputs, "global_vars": global_vars or {}}
    return [f"{root}.{name}" for root, name in needed(workflow) if name not in given[root]]


def refuse_missing(workflow: Any, inputs: dict[str, Any]) -> None:
    """A top-level run: every needed value must be given."""
    absent = missing(workflow, {**workflow.inputs, **inputs})
    if not absent:
        return
    shared = [name for name in absent if name.startswith("global_vars.")]
    reasons = []
    names = [name for name in absent if name.startswith("inputs.")]
    if names:
        flags = " ".join(f"--input {name.removeprefix('inputs.')}=VALUE" for name in names)
        reasons.append(f"it reads {', '.join(names)}, which nothing gives: run it with "
                       f"{flags}")
    if shared:
        reasons.append(f"it reads {', '.join(shared)}, which neither its global_vars nor "
                       f"a set_variable step sets: it is meant to run as a nested pipeline "
                       f"whose parent has them (config.inherit_context: true)")
    raise RunRefused(f"workflow '{workflow.name}' cannot run on its own: "
                     + "; ".join(reasons))


def _tree(step: Any) -> Iterator[Any]:
    yield step
    if isinstance(step, ContainerBase):
        for _, children in step.child_lists():
            for child in children:
                yield from _tree(child)


def _template_texts(steps: list[Any]) -> Iterator[str]:
    for step in steps:  # each step of the tree once: a container without its children
        children = {"steps", "parallel_tasks", "cases", "default"} \
            if isinstance(step, ContainerBase) else set()
        data = step.model_dump(mode="json", exclude_unset=True, exclude=children)
        if isinstance(step, PipelineStep):
            data.pop("pipeline", None)  # an inline pipeline's own inputs are its caller's
        for key in _CONDITION_KEYS:
            data.pop(key, None)
        yield from (text for text in templates.strings_in(data) if templates.has_template(text))


def _conditions(steps: list[Any]) -> Iterator[Any]:
    for step in steps:
        for key in _CONDITION_KEYS:
            spec = getattr(step, key, None)
            if spec is not None and not isinstance(spec, bool):
                yield spec


def _guarded(text: str, root: str, key: str) -> bool:
    """`inputs.x | default(...)`, `inputs.x is defined` and `inputs.get('x')` work without
    the value, so they do not make it needed."""
    name = re.escape(f"{root}.{key}")
    return bool(re.search(rf"{name}\s*(\|\s*(default|d)\b|is\s+(not\s+)?(defined|undefined)\b)",
                          text) or re.search(rf"{re.escape(root)}\.get\(", text))
