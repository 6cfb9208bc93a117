"""One module per scenario of issue 4; each has NUMBER, TITLE and `async run(config)`."""

from __future__ import annotations

import importlib
from types import ModuleType

NAMES = ("s1_ttft", "s2_throughput", "s3_memory", "s4_sync_async", "s5_claude_chain",
         "s6_concurrency", "s7_scaling", "s8_parallel", "s9_loop",
         "s10_batch", "s11_dead_time")


def load(number: int) -> ModuleType:
    return importlib.import_module(f"bench.scenarios.{NAMES[number - 1]}")


NUMBERS = tuple(range(1, len(NAMES) + 1))
