"""The in-process backend: each item is an asyncio task in this process, and one
simulator (when a step runs on it) serves them all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rillet.batching.inputs import Item
from rillet.batching.item import ItemSettings, run_item


class LocalBackend:
    def __init__(self, workflow: Any, settings: ItemSettings, simulator: Any = None):
        self.workflow = workflow
        self.settings = settings
        self._simulator = simulator

    @classmethod
    async def start(cls, workflow: Any, settings: ItemSettings) -> LocalBackend:
        simulator = None
        if settings.sim_base_url is None and uses_simulator(workflow, settings.mode):
            from rillet.sim.server import SimulatorThread

            simulator = SimulatorThread(settings.script)
            simulator.__enter__()
            settings.sim_base_url = simulator.base_url
        return cls(workflow, settings, simulator)

    async def run(self, item: Item, attempt: int, emit: Callable[[Any], None],
                  started: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        started({})
        return await run_item(self.workflow, item, self.settings, attempt=attempt, emit=emit)

    async def aclose(self) -> None:
        if self._simulator is not None:
            self._simulator.__exit__(None, None, None)
            self._simulator = None
            self.settings.sim_base_url = None


def uses_simulator(workflow: Any, run_mode: str | None) -> bool:
    from rillet.engine.modes import default_run_mode, step_mode
    from rillet.steps import MODEL_STEPS

    chosen = run_mode or default_run_mode()
    return any(step_mode(chosen, step.mode, MODEL_STEPS[step.type].provider_kind(step))
               == "sim" for step in getattr(workflow, "steps", []) if step.type in MODEL_STEPS)
