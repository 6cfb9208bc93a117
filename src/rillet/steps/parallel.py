"""`type: parallel` and `type: parallel_claude`: the branches run at the same time.

Each branch is one step (any type, containers too) with its own result under its name;
the first failure cancels the other branches unless `continue_on_error`.
"""

from __future__ import annotations

from typing import Any

CHILDREN = dict


async def run(step: Any, scope: Any, walker: Any, children: dict[str, Any]) -> None:
    branches = step.steps

    def branch(child: Any) -> Any:
        return lambda: walker.run_node(child, scope.child(child.name), (children, child.name))

    await walker.run_concurrently([branch(b) for b in branches], label=scope.label,
                                  max_parallel=step.max_parallel or len(branches),
                                  continue_on_error=step.continue_on_error)
    ordered = {b.name: children[b.name] for b in branches if b.name in children}
    children.clear()  # in the order they are written, not the order they finished
    children.update(ordered)
