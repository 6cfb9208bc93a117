"""The public face: load a workflow, run it (sync or async), or stream its events.

The sync `run` wraps `run_async`; `stream` runs the workflow in a task and yields every
pipeline event as it happens (for UIs and servers).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import fields
from pathlib import Path
from typing import Any

from rillet.engine.executor import Executor, RunOptions, RunResult
from rillet.events import Event
from rillet.providers.pricing.overrides import refuse_unpriced_budget
from rillet.workflow.caller_values import refuse_missing
from rillet.workflow.loader import load_workflow
from rillet.workflow.trust import refuse_code

_OPTION_NAMES = {f.name for f in fields(RunOptions)}


def _as_workflow(workflow: Any) -> Any:
    return load_workflow(workflow) if isinstance(workflow, (str, Path)) else workflow


def _options(kwargs: dict[str, Any]) -> RunOptions:
    unknown = set(kwargs) - _OPTION_NAMES
    if unknown:
        raise TypeError(f"unknown run option(s): {', '.join(sorted(unknown))}; "
                        f"known: {', '.join(sorted(_OPTION_NAMES))}")
    return RunOptions(**kwargs)


def _checked(workflow: Any, options: RunOptions) -> Any:
    if not options.allow_code:
        refuse_code(workflow)  # before anything starts
    refuse_unpriced_budget(workflow)  # a budget it could not keep
    refuse_missing(workflow, options.inputs)  # inputs.x / global_vars.x no one gives
    return workflow


async def run_async(workflow: Any, **options: Any) -> RunResult:
    """Run a workflow (a path or a loaded Workflow). Options are RunOptions' fields."""
    opts = _options(options)
    return await Executor(_checked(_as_workflow(workflow), opts), opts).run()


def run(workflow: Any, **options: Any) -> RunResult:
    """Run a workflow to the end and return its RunResult (see `run_async`)."""
    return asyncio.run(run_async(workflow, **options))


class _QueueListener:
    name = "rillet.stream"

    def __init__(self, queue: asyncio.Queue[Any]):
        self.on_event = queue.put_nowait  # one bound call per event, no wrapper


_END = object()


async def stream(workflow: Any, **options: Any) -> AsyncIterator[Event]:
    """Yield every event of the run, pipeline and step events alike, as it happens.

    Leaving the loop early cancels the run: its streams are closed and what was produced
    so far is written to the results.
    """
    opts = _options(options)
    wf = _checked(_as_workflow(workflow), opts)
    queue: asyncio.Queue[Any] = asyncio.Queue()
    opts.listeners = [*opts.listeners, _QueueListener(queue)]
    task = asyncio.ensure_future(Executor(wf, opts).run())
    task.add_done_callback(lambda _: queue.put_nowait(_END))
    try:
        while True:
            event = await queue.get()
            if event is _END:
                break
            yield event
        await task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
