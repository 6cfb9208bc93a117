"""Scenario 8: a `parallel` of 10 Anthropic API branches on the simulator, against its
slowest branch run alone.

The simulator paces each branch differently (its first token after 50 ms, then 40 to 85
tokens a second), so the branches end at different times and the slowest sets the wall
time. The parallel step should finish within 1.1x the slowest branch alone: branches share
one event loop and one client, and nothing waits for another branch's tokens.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from bench.harness import AT_MOST, BenchConfig, ScenarioResult, alternate, median
from bench.paths import run_dirs, step_yaml, workflow
from bench.simproc import simulator_process

NUMBER, TITLE = 8, "a parallel of 10 API branches vs its slowest branch alone"
BRANCHES = 10
TEXT = " ".join(["Each branch streams its own answer while the others stream theirs."] * 4)


def _rate(index: int) -> int:
    return 85 - 5 * index  # branch 9 is the slowest


SCRIPT = {"rules": [{"match": f"bench branch {i}$", "text": TEXT, "timing": {
    "first_token_delay_s": 0.05, "tokens_per_second": _rate(i), "chunk_tokens": 1,
    "jitter": 0}} for i in range(BRANCHES)]}


def _branch(index: int) -> dict[str, Any]:
    return step_yaml(f"b{index}", f"bench branch {index}", mode="sim")


def _timed(flow: Any, url: str, check: Any):
    import rillet

    async def call() -> dict[str, Any]:
        with run_dirs() as dirs:
            started = perf_counter()
            result = await rillet.run_async(flow, mode="sim", sim_base_url=url, prewarm=False,
                                            telemetry=False, **dirs)
            wall = perf_counter() - started
        return {"wall_s": wall, "ok": result.success and check(result)}

    return call


async def run(config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult(NUMBER, TITLE)
    parallel = workflow("bench-parallel", [{"name": "fan", "type": "parallel", "steps": [
        _branch(i) for i in range(BRANCHES)]}])
    slowest = workflow("bench-slowest", [_branch(BRANCHES - 1)])
    with simulator_process(SCRIPT) as url:
        samples = await alternate({
            "parallel": _timed(parallel, url, lambda r: all(
                c.text == TEXT for c in r["fan"].children.values())),
            "slowest": _timed(slowest, url, lambda r: r[f"b{BRANCHES - 1}"].text == TEXT),
        }, config.repetitions, warmup=config.pick(0, 1))
    wall = median([s["wall_s"] for s in samples["parallel"]])
    alone = median([s["wall_s"] for s in samples["slowest"]])
    result.row(f"runs with every branch's full text of {len(samples['parallel'])}",
               sum(s["ok"] for s in samples["parallel"]), "",
               target=len(samples["parallel"]), compare=">=")
    result.row(f"wall time, parallel of {BRANCHES} branches", wall, "s", baseline=alone,
               baseline_name="its slowest branch alone")
    result.row("parallel / slowest branch alone", wall / alone, "x", target=1.1,
               compare=AT_MOST)
    result.details = {"branches": BRANCHES, "rates": [_rate(i) for i in range(BRANCHES)],
                      "samples": samples}
    return result
