"""Scenario 2: the per-delta cost of rillet's streaming path.

provider events -> executor -> AsyncResponse -> metrics -> handlers -> result, fed by a
synthetic provider that replays ready-made events, so what is timed is rillet's work per
delta. The baseline is a hand-written consumer of the same events that keeps the text.
Console output goes to a pipe drained by a thread, as when rillet's output is piped.
Also shown: AsyncResponse alone, and a whole run on the mock provider, which also makes
and translates the raw API events of its reply (what a provider costs on top).
"""

from __future__ import annotations

import os
import threading
from time import perf_counter, process_time
from typing import Any

from bench.harness import AT_LEAST, BenchConfig, ScenarioResult, alternate, median
from bench.paths import (
    prebuilt_events, replay, run_dirs, step_yaml,
    synthetic_provider, workflow,
)
from rillet.events import TextDelta

NUMBER, TITLE = 2, "per-delta cost of the streaming path"
STEP = "stream"


class PipeSink:
    """A text stream whose reader (a thread) drains and discards, like `rillet run | cat`."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.writer = os.fdopen(write_fd, "w", encoding="utf-8")
        self.bytes = 0
        self._reader = threading.Thread(target=self._drain, args=(read_fd,), daemon=True)
        self._reader.start()

    def _drain(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as pipe:
            while chunk := pipe.read1(65536):
                self.bytes += len(chunk)

    def close(self) -> None:
        self.writer.close()
        self._reader.join(timeout=5)


async def _raw(events: list[Any]) -> dict[str, float]:
    started, cpu = perf_counter(), process_time()
    parts: list[str] = []
    async for event in replay(events):
        if type(event) is TextDelta:
            parts.append(event.text)
    text = "".join(parts)
    assert len(text) == 4 * (len(events) - 3)
    return {"wall": perf_counter() - started, "cpu": process_time() - cpu}


def _runner(events: list[Any], handlers: list[str], sink: PipeSink | None):
    import rillet

    flow = workflow("bench-throughput", [step_yaml(STEP, "stream", mode="mock",
                                                   handlers=handlers or None)])

    async def run() -> dict[str, float]:
        with run_dirs() as dirs, synthetic_provider(lambda request: replay(events)):
            started, cpu = perf_counter(), process_time()
            result = await rillet.run_async(
                flow, mode="mock", prewarm=False, telemetry=False,
                stdout=sink.writer if sink else None, **dirs)
            wall, cpu = perf_counter() - started, process_time() - cpu
        if not result.success:
            raise RuntimeError(f"the benchmark run failed: {result.error}")
        assert len(result[STEP].text) == 4 * (len(events) - 3)
        return {"wall": wall, "cpu": cpu}

    return run


def _mock_runner(deltas: int):
    """The whole run on the mock provider: it also generates the simulator's raw API events
    and translates them, as the real provider would, so this costs more per delta."""
    import rillet

    text = "tok " * deltas
    reply = {"text": text, "timing": {"pattern": "fast"}}
    flow = workflow("bench-mock", [step_yaml(STEP, "stream", mode="mock", mock=reply)])

    async def run() -> dict[str, float]:
        with run_dirs() as dirs:
            started, cpu = perf_counter(), process_time()
            result = await rillet.run_async(flow, mode="mock", prewarm=False, telemetry=False,
                                            **dirs)
            wall, cpu = perf_counter() - started, process_time() - cpu
        if not result.success or result[STEP].text != text:
            raise RuntimeError(f"the benchmark run failed: {result.error}")
        return {"wall": wall, "cpu": cpu}

    return run


async def _response_only(events: list[Any]) -> dict[str, float]:
    from rillet.streaming.response import AsyncResponse

    started, cpu = perf_counter(), process_time()
    response = AsyncResponse(STEP, replay(events))
    async for _ in response:
        pass
    text = response.result().text
    assert len(text) == 4 * (len(events) - 3)
    return {"wall": perf_counter() - started, "cpu": process_time() - cpu}


async def run(config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult(NUMBER, TITLE)
    deltas = config.pick(20_000, 200_000)
    events = prebuilt_events(STEP, deltas)
    sink = PipeSink()
    variants = {"raw": lambda: _raw(events), "response": lambda: _response_only(events),
                "none": _runner(events, [], None), "file": _runner(events, ["file"], None),
                "console": _runner(events, ["console"], sink), "mock": _mock_runner(deltas)}
    try:
        samples = await alternate(variants, config.repetitions)
    finally:
        sink.close()
    raw_wall = median([s["wall"] for s in samples["raw"]])
    raw_rate = deltas / raw_wall
    targets = {"response": None, "none": 200_000, "file": 100_000, "console": 50_000,
               "mock": None}
    labels = {"response": "AsyncResponse alone", "none": "whole run, no handler",
              "file": "whole run, file handler", "console": "whole run, console → pipe",
              "mock": "whole run, mock provider (its event making included)"}
    details: dict[str, Any] = {"deltas": deltas, "repetitions": config.repetitions,
                               "raw_deltas_per_s": raw_rate, "console_bytes_piped": sink.bytes}
    for name, target in targets.items():
        wall = median([s["wall"] for s in samples[name]])
        cpu = median([s["cpu"] for s in samples[name]])
        rate = deltas / wall
        result.row(f"deltas/s, {labels[name]}", rate, "/s", baseline=raw_rate,
                   baseline_name="hand-written loop keeping the text", target=target,
                   compare=AT_LEAST if target else None)
        result.row(f"CPU per delta, {labels[name]}", cpu / deltas * 1e6, "µs")
        details[name] = {"wall_s": wall, "cpu_s": cpu, "deltas_per_s": rate,
                         "cpu_us_per_delta": cpu / deltas * 1e6,
                         "samples_wall_s": [s["wall"] for s in samples[name]]}
    result.details = details
    return result
