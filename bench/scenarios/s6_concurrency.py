"""Scenario 6: many workflows streaming at once on the simulator.

A. 100 one-step workflows through the Anthropic API provider, started together with
   `asyncio.gather`, against 100 raw `anthropic` SDK streams started the same way (once
   with `messages.stream()`, once with the leaner `messages.create(stream=True)`). The
   simulator sends a delta every 20 ms on each stream; every arrival is stamped where the
   consumer sees it. "Added inter-delta latency" is rillet's p99 gap minus the raw SDK's
   p99 gap under the same load; the p99 over the nominal 20 ms is reported as well.
B. 10 one-step workflows through the Claude Agent SDK + CLI at once, against 10 raw
   `ClaudeSDKClient`s: all complete, wall time, and the memory of each CLI process
   (peak RSS sampled from /proc every 50 ms).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from time import perf_counter
from typing import Any

from bench.harness import (
    AT_MOST, BenchConfig, ScenarioResult, alternate, children_with, median, percentile, rss_bytes,
)
from bench.paths import MODEL, Stamps, run_dirs, step_yaml, workflow
from bench.scenarios.s5_claude_chain import raw_options, raw_step
from bench.simproc import simulator_process

NUMBER, TITLE = 6, "concurrency: 100 API workflows, 10 Claude CLI workflows"
API_PROMPT, CLI_PROMPT = "bench many at once", "bench cli at once"
API_TIMING = {"first_token_delay_s": 0.05, "tokens_per_second": 50, "chunk_tokens": 1,
              "jitter": 0}
NOMINAL_GAP_S = 1 / 50
CLI_TIMING = {"first_token_delay_s": 0.05, "tokens_per_second": 60, "chunk_tokens": 1,
              "jitter": 0}
API_TEXT = " ".join(["Many streams share one loop and every token still arrives on time."] * 8)
CLI_TEXT = " ".join(["Ten command line processes stream side by side."] * 5)
SCRIPT = {"rules": [{"match": API_PROMPT, "text": API_TEXT, "timing": API_TIMING},
                    {"match": CLI_PROMPT, "text": CLI_TEXT, "timing": CLI_TIMING}]}


def _gaps(series: list[list[float]]) -> list[float]:
    return [b - a for times in series for a, b in zip(times, times[1:])]


def _summary(started: float, ended: float, series: list[list[float]]) -> dict[str, Any]:
    gaps = _gaps(series)
    deltas = sum(len(t) for t in series)
    return {"wall_s": ended - started, "deltas": deltas, "deltas_per_s": deltas / (ended - started),
            "gap_p50_s": percentile(gaps, 0.5), "gap_p99_s": percentile(gaps, 0.99),
            "gap_max_s": max(gaps) if gaps else None,
            "first_token_p50_s": median([t[0] - started for t in series if t])}


def _all_at_once(one: Any, count: int) -> Any:
    """A benchmark call running `count` copies of `one()` at once; their delta timestamps
    are summarised together."""
    async def call() -> dict[str, Any]:
        started = perf_counter()
        series = await asyncio.gather(*(one() for _ in range(count)))
        return _summary(started, perf_counter(), list(series))

    return call


def _raw_api(url: str, count: int):
    from anthropic import AsyncAnthropic

    async def one() -> list[float]:
        client = AsyncAnthropic(base_url=url, api_key="sim", max_retries=0)
        stamps: list[float] = []
        async with client.messages.stream(model=MODEL, max_tokens=4096, messages=[
                {"role": "user", "content": API_PROMPT}]) as stream:
            async for event in stream:
                if event.type == "text":
                    stamps.append(perf_counter())
        await client.close()
        return stamps

    return _all_at_once(one, count)


def _raw_api_events(url: str, count: int):
    """The SDK's lower-level stream, `messages.create(stream=True)`: no accumulated
    snapshot per event, so less CPU per delta than `messages.stream()`."""
    from anthropic import AsyncAnthropic

    async def one() -> list[float]:
        client = AsyncAnthropic(base_url=url, api_key="sim", max_retries=0)
        stamps: list[float] = []
        stream = await client.messages.create(model=MODEL, max_tokens=4096, stream=True,
                                              messages=[{"role": "user", "content": API_PROMPT}])
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                stamps.append(perf_counter())
        await client.close()
        return stamps

    return _all_at_once(one, count)


def _rillet_api(url: str, count: int):
    import rillet

    flow = workflow("bench-concurrent", [step_yaml("answer", API_PROMPT, mode="sim")])

    async def one(dirs: dict[str, Any], index: int) -> list[float] | None:
        stamps = Stamps()
        result = await rillet.run_async(flow, mode="sim", sim_base_url=url, listeners=[stamps],
                                        telemetry=False, run_id=f"bench-{index}", **dirs)
        if not result.success or result["answer"].text != API_TEXT:
            return None
        return stamps.deltas["answer"]

    async def call() -> dict[str, Any]:
        with run_dirs() as dirs:
            started = perf_counter()
            series = await asyncio.gather(*(one(dirs, i) for i in range(count)))
            ended = perf_counter()
        done = [s for s in series if s is not None]
        return {**_summary(started, ended, done), "completed": len(done)}

    return call


class CLIMemory:
    """Samples the RSS of this process's Claude CLI children while a case runs."""

    def __init__(self) -> None:
        self.peak_total = 0
        self.peak_each: dict[int, int] = {}
        self.most = 0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            pids = children_with(b"claude")
            sizes = {pid: rss_bytes(pid) for pid in pids}
            for pid, size in sizes.items():
                self.peak_each[pid] = max(size, self.peak_each.get(pid, 0))
            self.peak_total = max(self.peak_total, sum(sizes.values()))
            self.most = max(self.most, len(pids))
            await asyncio.sleep(0.05)

    async def __aenter__(self) -> CLIMemory:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def report(self) -> dict[str, Any]:
        each = list(self.peak_each.values())
        return {"cli_processes": len(each), "most_at_once": self.most,
                "peak_total_mb": self.peak_total / 1e6,
                "per_cli_peak_mb_median": (median(each) or 0) / 1e6}


def _raw_cli(url: str, count: int):
    async def call() -> dict[str, Any]:
        # A HOME and workspace per client, as each rillet run has its own.
        folders = [tempfile.mkdtemp(prefix="rillet-bench-") for _ in range(2 * count)]
        try:
            options = [raw_options(url, folders[2 * i], folders[2 * i + 1])
                       for i in range(count)]
            async with CLIMemory() as memory:
                started = perf_counter()
                outcomes = await asyncio.gather(*(raw_step(o, CLI_PROMPT) for o in options))
                wall = perf_counter() - started
        finally:
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
        complete = sum(o["text"] == CLI_TEXT for o in outcomes)
        return {"wall_s": wall, "completed": complete, **memory.report()}

    return call


def _rillet_cli(url: str, count: int):
    import rillet

    flow = workflow("bench-cli-concurrent", [step_yaml("answer", CLI_PROMPT,
                                                       provider="claude_agent", mode="sim")])

    async def one(dirs: dict[str, Any], index: int) -> bool:
        result = await rillet.run_async(flow, mode="sim", sim_base_url=url, telemetry=False,
                                        run_id=f"bench-cli-{index}", **dirs)
        return result.success and result["answer"].text == CLI_TEXT

    async def call() -> dict[str, Any]:
        with run_dirs() as dirs:
            async with CLIMemory() as memory:
                started = perf_counter()
                outcomes = await asyncio.gather(*(one(dirs, i) for i in range(count)))
                wall = perf_counter() - started
        return {"wall_s": wall, "completed": sum(outcomes),
                "left_running": len(children_with(b"claude")), **memory.report()}

    return call


async def run(config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult(NUMBER, TITLE)
    api_count, cli_count = config.pick(20, 100), config.pick(3, 10)
    repetitions = config.pick(1, 3)
    with simulator_process(SCRIPT) as url:
        api_variants: dict[str, Any] = {"raw": _raw_api(url, api_count),
                                        "raw_events": _raw_api_events(url, api_count),
                                        "rillet": _rillet_api(url, api_count)}
        cli_variants: dict[str, Any] = {"raw": _raw_cli(url, cli_count),
                                        "rillet": _rillet_cli(url, cli_count)}
        api = await alternate(api_variants, repetitions, warmup=config.pick(0, 1))
        # Alternated (who goes first changes each round), after a warm-up round that
        # loads the CLI binary into the page cache for both.
        cli = await alternate(cli_variants, config.pick(1, 3), warmup=config.pick(0, 1))
    result.details = {"api_workflows": api_count, "cli_workflows": cli_count,
                      "repetitions": repetitions, "nominal_gap_s": NOMINAL_GAP_S,
                      "api": api, "cli": cli}

    def med(samples: dict[str, Any], name: str, key: str) -> float | None:
        return median([s[key] for s in samples[name]])

    result.row(f"API workflows completed of {api_count}",
               min(s["completed"] for s in api["rillet"]), "", target=api_count, compare=">=")
    result.row(f"inter-delta gap p99, {api_count} workflows", med(api, "rillet", "gap_p99_s"),
               "s", baseline=med(api, "raw", "gap_p99_s"),
               baseline_name=f"{api_count} raw SDK streams")
    for base, label in (("raw", "messages.stream()"), ("raw_events", "create(stream=True)")):
        result.row(f"added inter-delta latency p99 over {label} (median of pairs)", median(
            [r["gap_p99_s"] - b["gap_p99_s"] for r, b in zip(api["rillet"], api[base])]), "s",
            target=0.010, compare=AT_MOST)
    result.row(f"inter-delta gap p99 over the nominal {NOMINAL_GAP_S * 1000:.0f} ms",
               med(api, "rillet", "gap_p99_s") - NOMINAL_GAP_S, "s",
               baseline=med(api, "raw_events", "gap_p99_s") - NOMINAL_GAP_S,
               baseline_name="create(stream=True)")
    result.row(f"throughput, {api_count} workflows", med(api, "rillet", "deltas_per_s"), "/s",
               baseline=med(api, "raw", "deltas_per_s"), baseline_name="raw SDK streams")
    result.row(f"wall time, {api_count} workflows", med(api, "rillet", "wall_s"), "s",
               baseline=med(api, "raw", "wall_s"), baseline_name="raw SDK streams")
    result.row(f"Claude CLI workflows completed of {cli_count}",
               min(s["completed"] for s in cli["rillet"]), "", target=cli_count, compare=">=")
    walls = {name: [s["wall_s"] for s in cli[name]] for name in ("rillet", "raw")}
    result.row(f"wall time, {cli_count} Claude CLI workflows", median(walls["rillet"]), "s",
               baseline=median(walls["raw"]), baseline_name="raw ClaudeSDKClient",
               note=f"{len(walls['raw'])} alternated rounds after a warm-up; spread "
                    f"{min(walls['rillet']):.2f}-{max(walls['rillet']):.2f} s vs "
                    f"{min(walls['raw']):.2f}-{max(walls['raw']):.2f} s")
    result.row("memory per CLI process (peak RSS)", med(cli, "rillet", "per_cli_peak_mb_median"),
               "MB", baseline=med(cli, "raw", "per_cli_peak_mb_median"),
               baseline_name="raw ClaudeSDKClient")
    return result
