"""Container steps through the real SDKs on the simulator: parallel Claude CLI branches,
a parallel of Messages API branches, the run-wide cap on CLI processes, and cancelling
mid-branch leaving no CLI process behind."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import rillet
from rillet.events import StepCompleted, StepFailed, StepStarted, TextDelta
from rillet.sim.script import Script, Timing

from test_claude_agent_sdk import cli_pids, until

pytestmark = pytest.mark.sdk

EXAMPLES = Path(__file__).parents[2] / "examples"


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.events: list = []
        self.most_cli = 0

    def on_event(self, event) -> None:
        self.events.append(event)
        if type(event) is TextDelta:
            self.most_cli = max(self.most_cli, len(cli_pids()))

    def text(self, step: str) -> str:
        return "".join(e.text for e in self.events if type(e) is TextDelta and e.step == step)


def started_together(recorder: Recorder, *steps: str) -> bool:
    """Whether every one of `steps` had started before any of them completed."""
    seen: set[str] = set()
    for event in recorder.events:
        if type(event) is StepCompleted and event.step in steps:
            return seen == set(steps)
        if type(event) is StepStarted and event.step in steps:
            seen.add(event.step)
    return False


def overlapped(recorder: Recorder, a: str, b: str) -> bool:
    """Whether step `b` streamed a delta before step `a` completed."""
    for event in recorder.events:
        if type(event) is StepCompleted and event.step == a:
            return False
        if type(event) is TextDelta and event.step == b:
            return True
    return False


def options(tmp_path: Path, recorder: Recorder, **extra):
    return {"mode": "sim", "quiet": True, "output_dir": tmp_path / "out",
            "workspace_dir": tmp_path / "ws", "listeners": [recorder],
            "script": Script.default().model_copy(update={"timing": Timing(pattern="chunked")}),
            **extra}


def test_the_fan_out_example_streams_claude_cli_and_api_branches_at_once(tmp_path):
    recorder = Recorder()
    result = rillet.run(EXAMPLES / "parallel_fanout.yaml", **options(tmp_path, recorder))

    assert result.success, result.error
    started = {e.step: e.provider for e in recorder.events if type(e) is StepStarted}
    assert started == {"review": None, "review.security": "claude_agent",
                       "review.cost": "claude_agent", "review.operations": "anthropic_api",
                       "verdict": "anthropic_api"}
    branches = result["review"].children
    for name, branch in branches.items():
        assert branch.text == recorder.text(f"review.{name}") != ""
        assert branch.output_tokens > 0 and branch.cost_usd > 0
    assert started_together(recorder, "review.security", "review.cost", "review.operations")
    assert recorder.most_cli == 2  # both CLI branches were alive at once
    assert result["review"].cost_usd == pytest.approx(sum(b.cost_usd for b in branches.values()))
    assert (tmp_path / "out" / "fanout" / "verdict.md").read_text() == result["verdict"].text
    assert cli_pids() == set()


API_PARALLEL = """
workflow:
  name: api-parallel
  steps:
    - name: fan
      type: parallel
      steps:
{branches}
"""


def test_a_parallel_of_messages_api_branches_streams_each_branch(tmp_path):
    branches = "\n".join(f"""        - name: b{i}
          type: claude
          provider: anthropic_api
          claude_options: {{max_tokens: 200}}
          prompt: "Question {i} about rivers\"""" for i in range(4))
    flow = tmp_path / "flow.yaml"
    flow.write_text(API_PARALLEL.format(branches=branches))
    recorder = Recorder()
    result = rillet.run(flow, **options(tmp_path, recorder))

    assert result.success, result.error
    assert list(result["fan"].children) == ["b0", "b1", "b2", "b3"]
    for name, branch in result["fan"].children.items():
        assert branch.step == f"fan.{name}" and branch.text == recorder.text(f"fan.{name}")
    assert overlapped(recorder, "fan.b0", "fan.b3")
    assert json.loads(result["fan"].text)["b2"] == result["fan"].children["b2"].text


CLI_LOOP = """
workflow:
  name: capped
  steps:
    - name: each
      type: for_loop
      data_source: [1, 2, 3, 4]
      parallel: true
      max_parallel: 4
      steps:
        - name: ask
          type: claude
          claude_options: {max_turns: 1}
          prompt: "Question {{ loop.item }} about tides"
"""


def test_the_run_wide_cap_bounds_live_claude_cli_processes(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text(CLI_LOOP)
    recorder = Recorder()
    result = rillet.run(flow, max_claude_processes=2, **options(tmp_path, recorder))

    assert result.success, result.error
    assert len(result["each"].children) == 4
    assert recorder.most_cli == 2
    assert cli_pids() == set()


async def test_cancelling_mid_branch_keeps_partial_texts_and_leaves_no_cli(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text(CLI_LOOP.replace("about tides", "slow story about tides"))
    recorder = Recorder()
    opts = options(tmp_path, recorder)
    opts["script"] = Script.default().model_copy(update={"timing": Timing(
        pattern="slow", first_token_delay_s=0, tokens_per_second=40)})
    task = asyncio.ensure_future(rillet.run_async(flow, max_claude_processes=2, **opts))
    await until(lambda: all(recorder.text(f"each[{i}].ask") for i in (0, 1)), timeout=30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await until(lambda: not cli_pids(), timeout=2.0)
    document = json.loads(next((tmp_path / "out").glob("*/results.json")).read_text())
    assert document["status"] == "cancelled"
    iterations = document["steps"]["each"]["children"]
    for i in (0, 1):
        ask = iterations[i]["ask"]
        assert ask["status"] == "cancelled"
        assert ask["text"] == recorder.text(f"each[{i}].ask") != ""
    assert {e.step for e in recorder.events if type(e) is StepFailed and e.cancelled} >= \
        {"each", "each[0].ask", "each[1].ask"}


def test_the_loop_example_runs_each_iteration_through_gemini_and_the_messages_api(tmp_path):
    recorder = Recorder()
    result = rillet.run(EXAMPLES / "topic_loop.yaml", **options(tmp_path, recorder))

    assert result.success, result.error
    providers = {e.step: e.provider for e in recorder.events if type(e) is StepStarted}
    assert providers["explain[2].draft"] == "gemini"
    assert providers["explain[2].title"] == "anthropic_api"
    for i, iteration in enumerate(result["explain"].children):
        assert iteration["title"].text == recorder.text(f"explain[{i}].title") != ""
    assert overlapped(recorder, "explain[0].draft", "explain[1].draft")
