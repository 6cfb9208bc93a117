"""Scenario 10: `rillet batch` — many runs of one workflow, here and on Ray.

- items/s over 1,000 items of a two-step mock workflow, in this process (asyncio) and on
  a local Ray cluster (`ray.init(num_cpus=2)`), with the peak RSS of every process of the
  batch (on Ray: the driver and the whole cluster);
- the time Ray adds per item: 50 items one at a time, Ray against in-process;
- 200 items on the simulator (the real anthropic and google-genai SDKs) through a storm
  of 300 HTTP 429s: every item must be in batch.jsonl exactly once, completed.
Each measurement runs in a fresh interpreter and session (bench.batch_probe). --quick
runs smaller sizes and leaves Ray out (starting a cluster takes ~15 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.harness import AT_MOST, BenchConfig, ScenarioResult

NUMBER, TITLE = 10, "rillet batch: items/s locally and on Ray, a 429 storm"
ROOT = Path(__file__).resolve().parents[2]
MB = 1_000_000


def probe(spec: dict[str, Any], timeout_s: float = 600) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-m", "bench.batch_probe", json.dumps(spec)],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"batch probe {spec} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


async def run(config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult(NUMBER, TITLE)
    items = config.pick(50, 1000)
    backends = config.pick(["local"], ["local", "ray"])
    details: dict[str, Any] = {}
    for backend in backends:
        got = await asyncio.to_thread(probe, {"items": items, "backend": backend,
                                              "concurrency": 16})
        details[f"{backend}_{items}"] = got
        where = "in-process" if backend == "local" else "local Ray cluster, 2 CPUs"
        result.row(f"items/s, {items:,} two-step mock items, concurrency 16 ({where})",
                   got["items_per_s"], "items/s")
        result.row(f"peak RSS of the batch's processes ({where})",
                   got["peak_rss_bytes"] / MB, "MB")
    if "ray" in backends:
        one_local = await asyncio.to_thread(probe, {"items": 50, "backend": "local",
                                                    "concurrency": 1})
        one_ray = await asyncio.to_thread(probe, {"items": 50, "backend": "ray",
                                                  "concurrency": 1})
        added = (one_ray["seconds"] - one_local["seconds"]) / 50
        details.update(one_at_a_time_local=one_local, one_at_a_time_ray=one_ray)
        result.row("time Ray adds per item (50 items one at a time, Ray - in-process)",
                   added * 1000, "ms")
        result.row("starting the local Ray cluster (ray.init)", one_ray["ray_init_s"], "s")
    storm_items, storm = config.pick((20, 60), (200, 300))
    got = await asyncio.to_thread(probe, {"items": storm_items, "backend": "local",
                                          "concurrency": 16, "storm": storm})
    details["storm"] = got
    missing = storm_items - got["unique"]
    result.row(f"items lost or duplicated, {storm_items} items through {storm} HTTP 429s "
               f"(simulator, real SDKs)", missing + got["duplicates"], "items", target=0,
               compare=AT_MOST)
    result.row("lowest concurrency the 429s pushed the batch to (from 16)",
               got["lowest_concurrency"], "")
    result.row("seconds to finish the 429 storm", got["seconds"], "s")
    result.details = details
    return result
