"""`type: while_loop`: the steps run again while `condition` holds, at most
`max_iterations` times (a loop is never unbounded) and within `timeout_seconds`.

The condition is checked before each iteration and sees the previous iteration's steps by
name, as pipeline_ex merges them back. Every iteration's results are kept.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rillet.engine.scope import while_variables
from rillet.errors import RilletError, StepError

CHILDREN = list
OWN_CONDITION = True  # `condition` is the loop's, not a gate on the step


async def run(step: Any, scope: Any, walker: Any, children: list[Any]) -> None:
    carried: dict[str, Any] = {}
    failed: list[str] = []
    try:
        async with asyncio.timeout(step.timeout_seconds):
            for index in range(step.max_iterations):
                inner = scope.iteration(index, while_variables(index, scope.loop))
                inner.results.update(carried)
                if not walker.holds(step.condition, inner):
                    break
                own: dict[str, Any] = {}
                children.append(own)
                try:
                    await walker.run_steps(step.steps, inner, own)
                except StepError as exc:
                    if step.break_on_error:
                        raise
                    failed.append(str(exc))
                carried.update(own)
            else:
                walker.warnings.append(f"step '{scope.label}': stopped after max_iterations "
                                       f"{step.max_iterations} with its condition still true")
    except TimeoutError:
        raise RilletError(f"timed out after {step.timeout_seconds} s (timeout_seconds); the "
                          f"iterations so far are kept") from None
    if failed:
        walker.warnings.append(f"step '{scope.label}': {len(failed)} iteration(s) failed "
                               f"(break_on_error: false): " + "; ".join(failed))
