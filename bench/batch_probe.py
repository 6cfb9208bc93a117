"""One batch measurement in a process (and a session) of its own, for scenario 10.

    python -m bench.batch_probe '{"items": 1000, "backend": "local", "concurrency": 16}'

It runs a two-step mock workflow (or, with "storm", the real SDKs against the simulator
through a burst of 429s) over `items` inputs and prints one JSON line: seconds, items/s,
the peak RSS of every process of the batch (the driver, and on Ray its cluster), and
what batch.jsonl holds (items, duplicates, statuses).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from time import perf_counter
from typing import Any

WORKFLOW = """\
workflow:
  name: bench_batch
  steps:
    - name: classify
      type: claude
      provider: anthropic_api
      model: claude-haiku-4-5
      prompt: "Classify ticket {{ inputs.n }}"
    - name: reply
      type: gemini
      model: gemini-3.5-flash
      prompt:
        - type: static
          content: "Reply to ticket {{ inputs.n }} given:"
        - type: previous_response
          step: classify
"""


def script(storm: int) -> dict[str, Any]:
    classify: dict[str, Any] = {"match": "Classify", "text": "a bug, urgent."}
    if storm:
        classify["fault"] = {"kind": "http_error", "status": 429, "times": storm}
    return {"timing": {"pattern": "fast"},
            "rules": [classify, {"match": "Reply", "text": "Thanks, we are on it."}]}


class SessionPeak:
    """The peak of the summed RSS of every process in this session, sampled."""

    def __init__(self, every_s: float = 0.1):
        self.sid = os.getsid(0)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)

    def __enter__(self) -> SessionPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.peak = max(self.peak, self._total())

    def _total(self) -> int:
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[3]) != self.sid:
                    continue
                with open(f"/proc/{entry}/status") as f:
                    total += next((int(line.split()[1]) * 1024 for line in f
                                   if line.startswith("VmRSS:")), 0)
            except (OSError, IndexError, ValueError):
                continue
        return total


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    import rillet
    from rillet.batching import ConcurrencyChanged, ItemRetried
    from rillet.sim.script import Script

    tmp = Path(tempfile.mkdtemp(prefix="rillet-bench-batch-"))
    (tmp / "flow.yaml").write_text(WORKFLOW, encoding="utf-8")
    data = tmp / "items.jsonl"
    data.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(spec["items"])),
                    encoding="utf-8")
    ray = spec["backend"] == "ray"
    init_s = 0.0
    if ray:
        import ray as ray_module

        began = perf_counter()
        ray_module.init(num_cpus=spec.get("num_cpus", 2), include_dashboard=False,
                        log_to_driver=False)
        init_s = perf_counter() - began
    lowest = spec["concurrency"]
    retries = 0
    with SessionPeak() as memory:
        began = perf_counter()
        async for out in rillet.batch(
                tmp / "flow.yaml", data, output_dir=tmp / "out", ray=ray, events=True,
                mode=spec.get("mode", "sim" if spec.get("storm") else "mock"),
                concurrency=spec["concurrency"],
                script=Script.model_validate(script(spec.get("storm", 0))),
                workspace_dir=tmp / "ws", max_attempts=50):
            kind = type(out)
            if kind is ConcurrencyChanged:
                lowest = min(lowest, out.limit)
            elif kind is ItemRetried:
                retries += 1
        seconds = perf_counter() - began
    records = [json.loads(line) for line in (tmp / "out" / "batch.jsonl").read_text()
               .splitlines()]
    counts = Counter(r["item"] for r in records)
    shutil.rmtree(tmp, ignore_errors=True)
    return {"seconds": seconds, "items_per_s": spec["items"] / seconds, "ray_init_s": init_s,
            "peak_rss_bytes": memory.peak, "records": len(records), "unique": len(counts),
            "duplicates": sum(c - 1 for c in counts.values()),
            "statuses": dict(Counter(r["status"] for r in records)),
            "lowest_concurrency": lowest, "retries": retries}


if __name__ == "__main__":
    os.setsid()  # so the memory sampler counts this batch's processes and nothing else
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
