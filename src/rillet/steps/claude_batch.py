"""`type: claude_batch` (pipeline_ex's form): one claude step per task, `max_parallel` at
a time through the walker, so the run-wide limit on Claude CLI processes holds too.

Task i streams under the path NAME[i] and keeps its own result there (a list, in the
tasks' order); a failed task stays failed while the others go on unless
`continue_on_error: false`.
"""

from __future__ import annotations

import json
from typing import Any

CHILDREN = list


async def run(step: Any, scope: Any, walker: Any, children: list[Any]) -> str:
    tasks = step.steps
    children.extend([None] * len(tasks))

    def task(index: int) -> Any:
        inner = scope.iteration(index, scope.loop or {})  # path NAME[i]; no loop variables
        return lambda: walker.run_node(tasks[index], inner, (children, index))

    await walker.run_concurrently([task(i) for i in range(len(tasks))], label=scope.label,
                                  max_parallel=step.batch_config.max_parallel,
                                  continue_on_error=step.continue_on_error)
    if not step.batch_config.consolidate_results:
        return ""
    return json.dumps([{"task_id": t.name, "status": r.status if r else "not run",
                        "text": r.text if r else ""} for t, r in zip(tasks, children)],
                      ensure_ascii=False)
