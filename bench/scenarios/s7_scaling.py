"""Scenario 7: how time and memory grow with workflow length and stream length.

Each size runs in a fresh interpreter (bench.worker), so memory figures are the peak of
that size alone:
- workflow length: 10, 100, 1,000 mock steps, each reading the previous step's answer;
- stream length: 1k, 10k, 100k, 1M deltas in one step (synthetic provider, no handler).
Linear means the cost per step (per delta) stays flat as the size grows: the check is the
cost per unit at the largest size over the cost per unit at the size ten times smaller
(<= 1.5; a re-scan of earlier results would make it grow with the size).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.harness import AT_MOST, BenchConfig, ScenarioResult
from bench.worker import measure

NUMBER, TITLE = 7, "scaling with workflow length and stream length"
MB = 1_000_000


def _curve(points: list[dict[str, Any]], size_key: str) -> list[dict[str, Any]]:
    return [{size_key: p["size"], "seconds": p["seconds"], "cpu_seconds": p["cpu_seconds"],
             "per_unit_us": p["seconds"] / p["size"] * 1e6, "peak_growth_mb": p["growth"] / MB,
             "growth_per_unit_b": p["growth"] / p["size"]} for p in points]


def _linearity(curve: list[dict[str, Any]]) -> float:
    return curve[-1]["per_unit_us"] / curve[-2]["per_unit_us"]


async def run(config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult(NUMBER, TITLE)
    stream_sizes = config.pick([1_000, 10_000, 100_000], [1_000, 10_000, 100_000, 1_000_000])
    step_counts = config.pick([10, 100], [10, 100, 1_000])
    streams = []
    for size in stream_sizes:
        outcome = await asyncio.to_thread(measure, {"case": "stream", "path": "run",
                                                    "deltas": size})
        streams.append({**outcome, "size": size})
    stream_curve = _curve(streams, "deltas")
    for point in stream_curve:
        result.row(f"time per delta, {point['deltas']:,} deltas (peak RSS "
                   f"+{point['peak_growth_mb']:.1f} MB)", point["per_unit_us"], "µs")
    result.row("per-delta cost, largest / 10x smaller stream", _linearity(stream_curve), "",
               target=1.5, compare=AT_MOST)
    result.details = {"streams": stream_curve}
    runs = []
    for count in step_counts:
        outcome = await asyncio.to_thread(measure, {"case": "steps", "steps": count})
        runs.append({**outcome, "size": count})
    step_curve = _curve(runs, "steps")
    for point in step_curve:
        result.row(f"time per step, {point['steps']:,} mock steps (peak RSS "
                   f"+{point['peak_growth_mb']:.1f} MB)", point["per_unit_us"] / 1000, "ms")
    result.row("per-step cost, longest / 10x shorter workflow", _linearity(step_curve), "",
               target=1.5, compare=AT_MOST)
    result.details["steps"] = step_curve
    return result
