"""Scenario 5: a 3-step Claude chain through the real Claude Agent SDK and its CLI.

Each step feeds its answer to the next. The CLI takes ~0.5 s to start; rillet starts the
next step's CLI while the current step streams (`prewarm`), the raw SDK run step by step
cannot. Side by side, alternating: the raw SDK (`async with ClaudeSDKClient(options)`, one
client per step, the same options rillet passes), rillet with prewarm, rillet without.
After every rillet run no CLI process may be left: warm sessions that went unused are
closed.
"""

from __future__ import annotations

import shutil
import tempfile
from time import perf_counter
from typing import Any

from bench.harness import AT_LEAST, BenchConfig, ScenarioResult, alternate, children_with, median
from bench.paths import MODEL, Stamps, run_dirs, step_yaml, workflow
from bench.simproc import simulator_process

NUMBER, TITLE = 5, "3-step Claude chain: prewarmed CLI vs raw SDK step by step"
STEPS = ("outline", "draft", "polish")
TIMING = {"first_token_delay_s": 0.05, "tokens_per_second": 80, "chunk_tokens": 1, "jitter": 0}
TEXT = ("Streaming keeps people reading while the model is still writing, so the wait "
        "feels shorter than it is and mistakes show up early enough to stop the run. ")
SCRIPT = {"rules": [{"match": f"chain {name}", "text": TEXT * 1, "timing": TIMING}
                    for name in STEPS]}

QUIET_ENV = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
             "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1"}


def prompt_of(index: int) -> str:
    return f"chain {STEPS[index]}: " + ("write an outline about streaming" if index == 0
                                        else "improve this")


def raw_options(url: str, home: str, workspace: str) -> Any:
    from claude_agent_sdk import ClaudeAgentOptions

    env = {**QUIET_ENV, "ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "sim", "HOME": home,
           "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1"}
    return ClaudeAgentOptions(model=MODEL, max_turns=1, include_partial_messages=True,
                              cwd=workspace, env=env,
                              extra_args={"no-session-persistence": None})


async def raw_step(options: Any, prompt: str) -> dict[str, Any]:
    """One step as a hand-written SDK program does it: start the CLI, ask, read the
    streamed answer, end the CLI."""
    from claude_agent_sdk import ClaudeSDKClient, ResultMessage, StreamEvent

    started = perf_counter()
    parts: list[str] = []
    first = None
    async with ClaudeSDKClient(options) as client:
        connected = perf_counter()
        await client.query(prompt)
        async for message in client.receive_response():
            if type(message) is StreamEvent:
                event = message.event
                if event.get("type") == "content_block_delta" and \
                        event["delta"].get("type") == "text_delta":
                    if first is None:
                        first = perf_counter()
                    parts.append(event["delta"]["text"])
            elif isinstance(message, ResultMessage) and message.is_error:
                raise RuntimeError(f"the raw SDK step failed: {message.result}")
        streamed = perf_counter()
    return {"text": "".join(parts), "start_s": connected - started,
            "ttft_s": (first or streamed) - started, "stream_end_s": streamed - started,
            "total_s": perf_counter() - started}


def _raw(url: str, steps: int):
    async def call() -> dict[str, Any]:
        home = tempfile.mkdtemp(prefix="rillet-bench-home-")
        workspace = tempfile.mkdtemp(prefix="rillet-bench-ws-")
        try:
            options = raw_options(url, home, workspace)
            started = perf_counter()
            previous, per_step = "", []
            for index in range(steps):
                prompt = prompt_of(index) + (f"\n\n{previous}" if previous else "")
                outcome = await raw_step(options, prompt)
                previous = outcome.pop("text")
                per_step.append(outcome)
            return {"total_s": perf_counter() - started, "steps": per_step,
                    "text_chars": len(previous)}
        finally:
            shutil.rmtree(home, ignore_errors=True)
            shutil.rmtree(workspace, ignore_errors=True)

    return call


def _rillet(url: str, steps: int, prewarm: bool):
    import rillet

    flow = workflow("bench-chain", [
        step_yaml(STEPS[i], prompt_of(i), provider="claude_agent", mode="sim",
                  previous=STEPS[i - 1] if i else None) for i in range(steps)])

    async def call() -> dict[str, Any]:
        stamps = Stamps()
        with run_dirs() as dirs:
            started = perf_counter()
            result = await rillet.run_async(flow, mode="sim", sim_base_url=url, prewarm=prewarm,
                                            listeners=[stamps], telemetry=False, **dirs)
            total = perf_counter() - started
        if not result.success:
            raise RuntimeError(f"the benchmark run failed: {result.error}")
        return {"total_s": total, "left_running": len(children_with(b"claude")),
                "ttft_s": [stamps.first[s] - stamps.started[s] for s in STEPS[:steps]],
                "text_chars": len(result[STEPS[steps - 1]].text),
                "warnings": list(result.warnings)}

    return call


async def run(config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult(NUMBER, TITLE)
    steps = len(STEPS)
    repetitions = config.pick(1, 5)
    with simulator_process(SCRIPT) as url:
        variants: dict[str, Any] = {"raw": _raw(url, steps),
                                    "prewarm": _rillet(url, steps, prewarm=True)}
        if not config.quick:
            variants["cold"] = _rillet(url, steps, prewarm=False)
        samples = await alternate(variants, repetitions, warmup=config.pick(0, 1))
    raw_total = median([s["total_s"] for s in samples["raw"]])
    result.details = {"repetitions": repetitions, "steps": steps, "timing": TIMING,
                      **{name: values for name, values in samples.items()}}
    raw_start = median([step["start_s"] for s in samples["raw"] for step in s["steps"]])
    result.row("CLI start per step, raw SDK", raw_start, "s")
    warm_total = median([s["total_s"] for s in samples["prewarm"]])
    result.row("3-step chain total, rillet with prewarm", warm_total, "s", baseline=raw_total,
               baseline_name="raw SDK step by step",
               note="the raw script starts each step's CLI when that step begins, one at a "
                    "time; rillet starts the next step's CLI while the current one streams")
    pairs = [b["total_s"] - r["total_s"] for r, b in zip(samples["prewarm"], samples["raw"])]
    result.row("time saved vs raw SDK (median of pairs)", median(pairs), "s", target=0.8,
               compare=AT_LEAST, note=f"spread {min(pairs):.3f}-{max(pairs):.3f} s")
    warm_ttft = median([t for s in samples["prewarm"] for t in s["ttft_s"][1:]])
    cold_ttft = median([step["ttft_s"] for s in samples["raw"] for step in s["steps"][1:]])
    result.row("first token of steps 2-3, rillet with prewarm", warm_ttft, "s",
               baseline=cold_ttft, baseline_name="raw SDK, CLI started for the step")
    # Prewarming can hide at most the CLI start of every step after the first.
    ceiling = median([sum(step["start_s"] for step in s["steps"][1:]) for s in samples["raw"]])
    result.row("most prewarm can hide: raw CLI start of steps 2-3", ceiling, "s")
    if "cold" in samples:
        result.row("3-step chain total, rillet without prewarm",
                   median([s["total_s"] for s in samples["cold"]]), "s", baseline=raw_total,
                   baseline_name="raw SDK step by step")
    left = max(s["left_running"] for name in ("prewarm", "cold") if name in samples
               for s in samples[name])
    result.row("CLI processes left after a run", left, "", target=0, compare="<=")
    return result
