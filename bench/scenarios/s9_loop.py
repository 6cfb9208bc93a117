"""Scenario 9: a for_loop of 10,000 mock iterations.

Each case runs in a fresh interpreter (bench.worker). Memory: the peak RSS growth of the
run beside the text the iterations keep; what is retained per finished iteration beyond
its text (its result: the text, metrics, a mapping by name) must stay small, and no event
may outlive the run. Overhead: seconds per iteration of the loop beside seconds per step
of a straight chain of as many top-level steps doing the same work (CPU time, and wall
time, which on a shared machine also counts waiting for a core).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.harness import AT_MOST, BenchConfig, ScenarioResult, median
from bench.worker import measure

NUMBER, TITLE = 9, "a for_loop of 10,000 mock iterations: memory and overhead"
MB = 1_000_000


async def run(config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult(NUMBER, TITLE)
    iterations = config.pick(500, 10_000)
    runs: dict[str, list[dict[str, Any]]] = {"loop": [], "chain": []}
    for _ in range(config.pick(1, 3)):
        runs["loop"].append(await asyncio.to_thread(
            measure, {"case": "loop", "iterations": iterations}))
        runs["chain"].append(await asyncio.to_thread(
            measure, {"case": "loop", "iterations": iterations, "chain": True}))

    def med(name: str, key: str) -> float:
        return median([r[key] for r in runs[name]])

    growth, kept = med("loop", "growth"), runs["loop"][0]["kept_chars"]
    per_iteration = max(0.0, growth - kept) / iterations
    # (The chain's growth is not a baseline: its 10,000 results fill memory freed by
    # loading its 10,000 steps, before the measured window.)
    result.row(f"peak RSS growth, {iterations:,} iterations", growth / MB, "MB")
    result.row("text kept by the iterations", kept / MB, "MB")
    result.row("retained per finished iteration beyond its text", per_iteration, "B",
               target=4096, compare=AT_MOST)
    result.row("events alive after the run", max(r["events_alive_after"] for r in runs["loop"]),
               "", target=0, compare=AT_MOST)
    # CPU time: on a shared machine the wall clock also counts waiting for a core.
    result.row("CPU time per iteration", med("loop", "cpu_seconds") / iterations * 1000, "ms",
               baseline=med("chain", "cpu_seconds") / iterations * 1000,
               baseline_name="per top-level step")
    result.row("wall time per iteration", med("loop", "seconds") / iterations * 1000, "ms",
               baseline=med("chain", "seconds") / iterations * 1000,
               baseline_name="per top-level step")
    result.details = {"iterations": iterations, "runs": runs}
    return result
