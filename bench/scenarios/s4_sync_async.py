"""Scenario 4: the same one-step workflow with `async_streaming` on and off.

On the simulator through the Anthropic API provider: 100 ms to the first token, then
120 tokens at 200 tokens/s. Measured from the `run_async` call: when the first text
reaches a listener (what a user would see first) and when the run ends. Baselines: the
raw SDK printing each text event as it comes, and the raw SDK waiting for the whole
answer (`await stream.get_final_text()`), where the first visible text is all of it.
(The simulator paces only streamed replies, so `messages.create` would not be a fair
stand-in for waiting.)
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from bench.harness import BenchConfig, ScenarioResult, alternate, median
from bench.paths import MODEL, FirstToken, run_dirs, step_yaml, workflow
from bench.simproc import simulator_process

NUMBER, TITLE = 4, "sync vs async: first visible token and total time"
PROMPT = "bench sync or async"
TIMING = {"first_token_delay_s": 0.1, "tokens_per_second": 200, "chunk_tokens": 1, "jitter": 0}
TEXT = " ".join(["Each token reaches the reader as soon as the model writes it."] * 10)
SCRIPT = {"rules": [{"match": PROMPT, "text": TEXT, "timing": TIMING}]}


def _raw(url: str, streaming: bool):
    from anthropic import AsyncAnthropic

    async def call() -> dict[str, float]:
        started = perf_counter()
        client = AsyncAnthropic(base_url=url, api_key="sim", max_retries=0)
        messages = [{"role": "user", "content": PROMPT}]
        first = None
        async with client.messages.stream(model=MODEL, max_tokens=4096,
                                          messages=messages) as stream:
            if streaming:
                async for event in stream:
                    if first is None and event.type == "text":
                        first = perf_counter()
            else:
                text = await stream.get_final_text()
                assert text == TEXT
                first = perf_counter()
        await client.close()
        return {"first_visible_s": first - started, "total_s": perf_counter() - started}

    return call


def _rillet(url: str, streaming: bool):
    import rillet

    flow = workflow("bench-sync-async", [step_yaml("answer", PROMPT, mode="sim",
                                                   async_streaming=streaming)])

    async def call() -> dict[str, float]:
        first = FirstToken()
        with run_dirs() as dirs:
            started = perf_counter()
            result = await rillet.run_async(flow, mode="sim", sim_base_url=url,
                                            listeners=[first], telemetry=False, **dirs)
            total = perf_counter() - started
        if not result.success or result["answer"].text != TEXT:
            raise RuntimeError(f"the benchmark run failed: {result.error}")
        return {"first_visible_s": first.at - started, "total_s": total}

    return call


async def run(config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult(NUMBER, TITLE)
    repetitions = config.pick(1, 5)
    with simulator_process(SCRIPT) as url:
        variants: dict[str, Any] = {"raw_stream": _raw(url, True), "raw_whole": _raw(url, False),
                                    "async": _rillet(url, True), "sync": _rillet(url, False)}
        samples = await alternate(variants, repetitions)
    result.details = {"repetitions": repetitions, "timing": TIMING, **samples}

    def med(name: str, key: str) -> float | None:
        return median([s[key] for s in samples[name]])

    for name, label, baseline in (("async", "async_streaming: true", "raw_stream"),
                                  ("sync", "async_streaming: false", "raw_whole")):
        base = "raw SDK " + ("streaming" if baseline == "raw_stream" else "whole answer")
        result.row(f"first visible token, {label}", med(name, "first_visible_s"), "s",
                   baseline=med(baseline, "first_visible_s"), baseline_name=base)
        result.row(f"total, {label}", med(name, "total_s"), "s",
                   baseline=med(baseline, "total_s"), baseline_name=base)
    result.row("first token sooner with streaming", med("sync", "first_visible_s") -
               med("async", "first_visible_s"), "s")
    return result
