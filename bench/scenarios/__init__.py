"""One module per scenario of issue 4; each has NUMBER, TITLE and `async run(config)`."""

from __future__ import annotations

import importlib
from types import ModuleType

# A scenario's number is its module's NUMBER, not its place here, so one can be added
# between two others without renumbering the rest.
NAMES = ("s1_ttft", "s2_throughput", "s3_memory", "s4_sync_async", "s5_claude_chain",
         "s6_concurrency", "s7_scaling", "s8_parallel", "s9_loop",
         "s10_batch", "s11_dead_time", "s12_partial_output")


def _number(name: str) -> int:
    return int(name[1:].split("_", 1)[0])


_BY_NUMBER = {_number(name): name for name in NAMES}
NUMBERS = tuple(sorted(_BY_NUMBER))


def load(number: int) -> ModuleType:
    module = importlib.import_module(f"bench.scenarios.{_BY_NUMBER[number]}")
    assert module.NUMBER == number, f"{module.__name__} says NUMBER {module.NUMBER}"
    return module
