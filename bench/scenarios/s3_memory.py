"""Scenario 3: memory of a 1,000,000-delta step streamed to the file handler.

Each case runs in a fresh interpreter (bench.worker) that measures its peak RSS over the
step alone. The synthetic provider makes a new event and a new string per delta and keeps
nothing, as a provider decoding the wire does, so whatever stays resident is held by
rillet. The target: peak growth <= the kept text + 20 MB (nothing per delta retained).
The baseline is a hand-written consumer that writes each delta to a file and keeps the
parts in a list to join at the end (the obvious way to keep the text).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.harness import AT_MOST, BenchConfig, ScenarioResult, median
from bench.worker import measure

NUMBER, TITLE = 3, "memory of a 1M-delta step to the file handler"
MB = 1_000_000


async def run(config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult(NUMBER, TITLE)
    deltas = config.pick(100_000, 1_000_000)
    rillet_spec = {"case": "stream", "deltas": deltas, "path": "run", "handlers": ["file"]}
    raw_spec = {"case": "stream", "deltas": deltas, "path": "raw"}
    runs: dict[str, list[dict[str, Any]]] = {"rillet": [], "raw": []}
    for _ in range(config.pick(1, 2)):
        runs["raw"].append(await asyncio.to_thread(measure, raw_spec))
        runs["rillet"].append(await asyncio.to_thread(measure, rillet_spec))
    growth = median([r["growth"] for r in runs["rillet"]]) / MB
    raw_growth = median([r["growth"] for r in runs["raw"]]) / MB
    kept = runs["rillet"][0]["kept_chars"] / MB  # ASCII: one byte a character
    result.row(f"peak RSS growth, {deltas:,} deltas, run_async + file handler", growth, "MB",
               baseline=raw_growth, baseline_name="hand-written: file + list of parts",
               target=kept + 20, compare=AT_MOST)
    result.row("text kept (the allowance is this + 20 MB)", kept, "MB")
    result.row("retained per delta beyond the text", max(0.0, growth - kept) * MB / deltas, "B")
    result.details = {"deltas": deltas, "runs": runs}
    return result
