"""Scenario 11: dead time, between steps and before the first token.

- Between steps: the showcase (`examples/showcase.yaml`, four model steps on three
  providers and a variable) runs in sim mode against a simulator in this process, which
  stamps every request as it arrives. For each model step after the first: from the end
  of the step before it (StepCompleted) to its request reaching the simulator. rillet
  starts every SDK import and client set-up when the run starts, so for the HTTP steps
  this is rillet's own work plus the SDK's sending of a request. A Claude step's request
  is sent by its CLI, which spends its own time between reading the prompt and sending
  it; that step's gap is given with the part before the prompt reaches the CLI
  (StepStarted) beside it.
- Before the first token: `rillet run` of a one-step Anthropic API workflow, a fresh
  process each time, against a simple Python script doing the same with the `anthropic`
  SDK (its whole import included), both live against a simulator process
  (ANTHROPIC_BASE_URL): from starting the process to the reply's first word on its stdout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from time import perf_counter
from typing import Any

from bench.harness import AT_MOST, BenchConfig, ScenarioResult, alternate, median
from bench.paths import MODEL
from bench.simproc import ROOT, simulator_process

NUMBER, TITLE = 11, "dead time: between steps, and from process start to the first token"
SHOWCASE = ROOT / "examples" / "showcase.yaml"
GAP_TARGET_S = 0.005
MARKER = "Kestrels"
FIRST_TOKEN_SCRIPT = {"rules": [{"match": "first visible token",
                                 "text": f"{MARKER} hover over the verge, then dive.",
                                 "timing": {"first_token_delay_s": 0.002,
                                            "tokens_per_second": 500, "jitter": 0}}]}


class _StepStamps:
    name = "bench.step_stamps"

    def __init__(self) -> None:
        self.order: list[str] = []
        self.kinds: dict[str, str | None] = {}
        self.started: dict[str, float] = {}
        self.completed: dict[str, float] = {}

    def on_event(self, event: Any) -> None:
        kind = type(event).__name__
        if kind == "StepStarted":
            self.started[event.step] = perf_counter()
            self.order.append(event.step)
            self.kinds[event.step] = event.provider
        elif kind == "StepCompleted":
            self.completed[event.step] = perf_counter()


def _is_model_request(request: Any) -> bool:
    return request.path == "/v1/messages" or ":streamGenerateContent" in request.path \
        or ":generateContent" in request.path


async def _showcase_gaps(sim: Any) -> dict[str, float]:
    import rillet

    stamps = _StepStamps()
    already = len(sim.requests)
    with tempfile.TemporaryDirectory(prefix="rillet-bench-") as tmp:
        result = await rillet.run_async(str(SHOWCASE), mode="sim", sim_base_url=sim.base_url,
                                        listeners=[stamps], output_dir=Path(tmp) / "out",
                                        workspace_dir=Path(tmp) / "ws", telemetry=False)
    if not result.success:
        raise RuntimeError(f"the showcase failed: {result.error}")
    arrivals = sorted(r.received for r in sim.requests[already:] if _is_model_request(r))
    gaps: dict[str, float] = {}
    for before, step in zip(stamps.order, stamps.order[1:]):
        if stamps.kinds[step] is None:  # a plain step sends nothing
            continue
        ended = stamps.completed[before]
        sent = next(t for t in arrivals if t > ended)
        gaps[step] = sent - ended
        gaps[f"{step}.start"] = stamps.started[step] - ended
    return gaps


_RAW_SCRIPT = textwrap.dedent(f"""
    import anthropic
    client = anthropic.Anthropic(max_retries=0)
    with client.messages.stream(model={MODEL!r}, max_tokens=1024, messages=[
            {{"role": "user", "content": "first visible token"}}]) as stream:
        for text in stream.text_stream:
            print(text, end="", flush=True)
    print()
""")

_WORKFLOW = textwrap.dedent(f"""
    workflow:
      name: first-token
      steps:
        - name: answer
          type: claude
          provider: anthropic_api
          model: {MODEL}
          prompt:
            - type: static
              content: first visible token
""")


def _until_marker(argv: list[str], env: dict[str, str], cwd: str) -> dict[str, float]:
    started = perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    seen = b""
    first = None
    while chunk := process.stdout.read1(4096):  # type: ignore[attr-defined]
        seen += chunk
        if first is None and MARKER.encode() in seen:
            first = perf_counter() - started
    process.wait(timeout=30)
    if first is None or process.returncode != 0:
        raise RuntimeError(f"{argv[1:3]} exited {process.returncode} without the reply: "
                           f"{seen[-300:]!r}")
    return {"first_token": first, "total": perf_counter() - started}


async def _first_token_pair(config: BenchConfig) -> dict[str, list[dict[str, float]]]:
    rillet_cli = str(Path(sys.executable).with_name("rillet"))
    with simulator_process(FIRST_TOKEN_SCRIPT) as url, \
            tempfile.TemporaryDirectory(prefix="rillet-bench-") as tmp:
        flow = Path(tmp) / "first-token.yaml"
        flow.write_text(_WORKFLOW, encoding="utf-8")
        script = Path(tmp) / "raw_first_token.py"
        script.write_text(_RAW_SCRIPT, encoding="utf-8")
        env = {**os.environ, "ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "sim",
               "NO_COLOR": "1"}

        async def raw() -> dict[str, float]:
            return _until_marker([sys.executable, str(script)], env, tmp)

        async def cli() -> dict[str, float]:
            return _until_marker([rillet_cli, "run", str(flow), "--mode", "live",
                                  "--output-dir", str(Path(tmp) / "out")], env, tmp)

        return await alternate({"raw": raw, "rillet": cli}, config.pick(1, 7), warmup=1)


async def run(config: BenchConfig) -> ScenarioResult:
    from rillet.sim.script import Script, Timing
    from rillet.sim.server import SimulatorThread

    result = ScenarioResult(NUMBER, TITLE)
    rounds = config.pick(1, 5)
    samples: list[dict[str, float]] = []
    # The showcase's own texts, streamed fast: the gaps do not depend on the pace.
    script = Script.default().model_copy(update={"timing": Timing(pattern="fast")})
    with SimulatorThread(script) as sim:
        await _showcase_gaps(sim)  # warm-up: the first run imports every SDK
        for _ in range(rounds):
            samples.append(await _showcase_gaps(sim))
    pair = await _first_token_pair(config)
    result.details = {"showcase_rounds": samples, **pair}

    def med(key: str) -> float | None:
        return median([s[key] for s in samples if key in s])

    result.row("step end → next request, critique (Gemini, after a Claude step)",
               med("critique"), "s", target=GAP_TARGET_S, compare=AT_MOST)
    result.row("step end → next request, polish (Anthropic API, after a variable step)",
               med("polish"), "s", target=GAP_TARGET_S, compare=AT_MOST)
    result.row("step end → next step's start, draft (Claude CLI, prewarmed)",
               med("draft.start"), "s", target=GAP_TARGET_S, compare=AT_MOST)
    result.row("step end → next request, draft (Claude CLI, prewarmed: the CLI's own "
               "time from prompt to request included)", med("draft"), "s")
    first = [s["first_token"] for s in pair["rillet"]]
    raw = [s["first_token"] for s in pair["raw"]]
    result.row("`rillet run` → first visible token", median(first), "s",
               baseline=median(raw), baseline_name="python script calling the anthropic SDK",
               note=f"spread {min(first):.3f}-{max(first):.3f} s vs "
                    f"{min(raw):.3f}-{max(raw):.3f} s")
    return result
