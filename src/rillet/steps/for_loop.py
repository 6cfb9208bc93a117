"""`type: for_loop`: the steps run once per item of `data_source`, one after another or,
with `parallel: true`, up to `max_parallel` iterations at a time.

Iteration i runs in scope `NAME[i]` with pipeline_ex's loop variables (rillet.engine.scope);
its steps see each other by name. Its results are kept as one mapping per iteration.
`break_condition` is checked after an iteration (true: no further iteration starts);
`continue_condition` before one (true: that iteration is skipped).

`batch_size: N` (pipeline_ex's, which ran long lists in chunks to bound memory) runs the
iterations in groups of N: a group starts when the one before it has finished, and its
start is announced by a LoopBatch event. With `parallel: true` at most
min(max_parallel, N) iterations of a group run at once.
"""

from __future__ import annotations

from typing import Any

from rillet.engine.scope import loop_variables
from rillet.engine.walk import DEFAULT_MAX_PARALLEL
from rillet.errors import RilletError, StepError
from rillet.events import LoopBatch
from rillet.steps.values import as_list

CHILDREN = list


async def run(step: Any, scope: Any, walker: Any, children: list[Any]) -> None:
    items = as_list(step.data_source, scope)
    if step.max_iterations is not None and len(items) > step.max_iterations:
        raise RilletError(f"data_source has {len(items)} items, more than max_iterations "
                          f"{step.max_iterations}")
    total = len(items)
    children.extend([None] * total)
    stop = False

    async def iteration(index: int) -> None:
        nonlocal stop
        inner = scope.iteration(index, loop_variables(step.iterator, items[index], index, total,
                                                      scope.loop))
        if step.continue_condition and walker.holds(step.continue_condition, inner):
            children[index] = {}
            return
        own: dict[str, Any] = {}
        children[index] = own
        await walker.run_steps(step.steps, inner, own)
        if step.break_condition and walker.holds(step.break_condition, inner):
            stop = True

    def jobs(indexes: range) -> Any:
        for index in indexes:
            if stop:
                return
            yield lambda index=index: iteration(index)

    size = step.batch_size or max(total, 1)
    batches = [range(start, min(start + size, total)) for start in range(0, total, size)]
    failed: list[str] = []
    for number, indexes in enumerate(batches, 1):
        if stop:
            break
        if step.batch_size:
            walker.emit(LoopBatch(scope.label, number, len(batches), indexes[0], indexes[-1]))
        if step.parallel:
            await walker.run_concurrently(
                jobs(indexes), label=scope.label,
                max_parallel=min(step.max_parallel or DEFAULT_MAX_PARALLEL, size),
                continue_on_error=not step.break_on_error)
            continue
        for job in jobs(indexes):
            try:
                await job()
            except StepError as exc:
                if step.break_on_error:
                    raise
                failed.append(str(exc))
    if failed:
        walker.warnings.append(f"step '{scope.label}': {len(failed)} iteration(s) failed "
                               f"(break_on_error: false): " + "; ".join(failed))
    while children and children[-1] is None:  # a break: the iterations never started
        children.pop()
