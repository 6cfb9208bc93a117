"""Measurements that need a process of their own: peak memory (and time) of one case.

    python -m bench.worker '{"case": "stream", "path": "run", "deltas": 1000000, ...}'

Everything is imported and warmed up first; then the peak-RSS window is reset (Linux
`clear_refs`), the case runs, and the worker prints one JSON line: RSS before, peak,
growth, the size of the text kept, seconds and CPU seconds.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def measure(spec: dict[str, Any], timeout_s: float = 300) -> dict[str, Any]:
    """Run one case in a fresh interpreter and return what it printed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-m", "bench.worker", json.dumps(spec)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"bench worker {spec} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- cases ------------------------------------------------------------------------------------


async def stream_case(spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """One step of `deltas` fresh text deltas, through `path`:
    run - rillet.run_async, synthetic provider, the step's handlers (spec["handlers"])
    raw - a hand-written consumer: writes each delta to a file, keeps the parts"""
    from bench.paths import fresh_text_stream, run_dirs, step_yaml, synthetic_provider, workflow
    from rillet.events import TextDelta

    deltas, path = spec["deltas"], spec["path"]
    step = "long"

    if path == "raw":
        async def once(n: int) -> int:
            parts: list[str] = []
            with open(tmp / "raw.txt", "w", encoding="utf-8") as out:
                async for event in fresh_text_stream(step, n):
                    if type(event) is TextDelta:
                        out.write(event.text)
                        parts.append(event.text)
            return len("".join(parts))
    else:
        import rillet

        handlers = spec.get("handlers") or []
        flow = workflow("bench-stream", [step_yaml(step, "long", mode="mock",
                                                   handlers=handlers or None)])

        async def once(n: int) -> int:
            with run_dirs() as dirs, synthetic_provider(
                    lambda request: fresh_text_stream(step, n)):
                result = await rillet.run_async(flow, mode="mock", prewarm=False,
                                                telemetry=False, **dirs)
                if not result.success:
                    raise RuntimeError(result.error)
                return len(result[step].text)

    return await _measured(once, deltas)


async def steps_case(spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """A workflow of `steps` mock steps, each answering a short scripted text at full speed;
    every step after the first reads the previous one's answer."""
    import rillet
    from bench.paths import run_dirs, step_yaml, workflow

    reply = {"text": "A short answer of about a dozen words, streamed token by token.",
             "timing": {"pattern": "fast"}}

    def flow_of(n: int) -> Any:
        return workflow("bench-steps", [
            step_yaml(f"s{i}", f"step {i}", mode="mock", mock=reply,
                      previous=f"s{i - 1}" if i else None) for i in range(n)])

    flows = {n: flow_of(n) for n in (2, spec["steps"])}

    async def once(n: int) -> int:
        with run_dirs() as dirs:
            result = await rillet.run_async(flows[n], mode="mock", prewarm=False,
                                            telemetry=False, **dirs)
        if not result.success:
            raise RuntimeError(result.error)
        return sum(len(r.text) for r in result.results.values())

    return await _measured(once, spec["steps"], warm=2)


async def loop_case(spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """A for_loop of `iterations` iterations (or, with "chain": true, as many top-level
    steps), each one mock step answering a short scripted text at full speed. It also
    counts the events still alive once the run is over (none should be)."""
    import rillet
    from bench.paths import run_dirs, step_yaml, workflow
    from rillet.events import Event

    reply = {"text": "One short answer per item, streamed token by token.",
             "timing": {"pattern": "fast"}}

    def flow_of(n: int) -> Any:
        if spec.get("chain"):
            return workflow("bench-chain", [step_yaml(f"s{i}", f"item {i}", mode="mock",
                                                      mock=reply) for i in range(n)])
        return workflow("bench-loop", [{
            "name": "each", "type": "for_loop", "data_source": list(range(n)),
            "steps": [step_yaml("work", "item {{ loop.item }}", mode="mock", mock=reply)]}])

    flows = {n: flow_of(n) for n in (20, spec["iterations"])}
    alive: list[int] = []

    async def once(n: int) -> int:
        with run_dirs() as dirs:
            result = await rillet.run_async(flows[n], mode="mock", prewarm=False,
                                            telemetry=False, **dirs)
        if not result.success:
            raise RuntimeError(result.error)
        gc.collect()
        alive.append(sum(1 for o in gc.get_objects() if isinstance(o, Event)))
        if spec.get("chain"):
            return sum(len(r.text) for r in result.results.values())
        return sum(len(it["work"].text) for it in result["each"].children)

    outcome = await _measured(once, spec["iterations"], warm=20)
    return {**outcome, "events_alive_after": alive[-1]}


async def _measured(once: Any, size: int, warm: int = 1000) -> dict[str, Any]:
    from bench.harness import peak_rss_bytes, reset_peak_rss, rss_bytes

    await once(warm)  # imports and first-call costs land before the window opens
    gc.collect()
    before = rss_bytes()
    reset = reset_peak_rss()
    started, cpu = perf_counter(), process_time()
    kept = await once(size)
    seconds, cpu = perf_counter() - started, process_time() - cpu
    peak = peak_rss_bytes()
    return {"rss_before": before, "peak_rss": peak, "growth": peak - before,
            "kept_chars": kept, "seconds": seconds, "cpu_seconds": cpu, "peak_reset": reset}


CASES = {"stream": stream_case, "steps": steps_case, "loop": loop_case}


def main() -> None:
    spec = json.loads(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="rillet-bench-worker-") as tmp:
        outcome = asyncio.run(CASES[spec["case"]](spec, Path(tmp)))
    print(json.dumps(outcome))


if __name__ == "__main__":
    main()
