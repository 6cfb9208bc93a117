"""Shared fixtures: the local simulator, started in the test's loop or on a thread.

The simulator is imported inside the fixtures so test sessions that never use it do not
pay for importing aiohttp.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from rillet.sim.script import Script
    from rillet.sim.server import Simulator, SimulatorThread


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A running simulator with the built-in default script."""
    from rillet.sim.server import Simulator

    async with Simulator() as simulator:
        yield simulator


@pytest.fixture
async def sim_factory() -> AsyncIterator[Callable[..., Awaitable[Simulator]]]:
    """`await sim_factory(script)` starts a simulator with that Script (None: the default
    script); every one started is stopped when the test ends."""
    from rillet.sim.server import Simulator

    started: list[Simulator] = []

    async def start(script: Script | None = None) -> Simulator:
        simulator = Simulator(script)
        await simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        await simulator.stop()


@pytest.fixture
def sim_thread() -> Iterator[SimulatorThread]:
    """The default-script simulator on its own thread, for code that blocks."""
    from rillet.sim.server import SimulatorThread

    with SimulatorThread() as simulator:
        yield simulator
