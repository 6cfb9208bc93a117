"""`type: switch` (pipeline_ex's form): the steps of the case whose key equals the value of
`expression` run in order, or `default`'s when no case matches (or nothing at all)."""

from __future__ import annotations

from typing import Any

from rillet.steps.values import lookup

CHILDREN = dict


async def run(step: Any, scope: Any, walker: Any, children: dict[str, Any]) -> None:
    value = lookup(step.expression, scope)
    key = str(value).lower() if isinstance(value, bool) else str(value)
    chosen = step.cases.get(key, step.default)
    if chosen is None:
        walker.warnings.append(f"step '{scope.label}': no case for {key!r} and no default; "
                               f"nothing ran")
        return
    await walker.run_steps(chosen, scope.block(), children)
