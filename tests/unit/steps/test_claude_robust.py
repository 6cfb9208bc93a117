"""claude_robust: retries with backoff, then fallbacks; each attempt an event, the text once."""

from __future__ import annotations

import json
import textwrap

import pytest

import rillet
from rillet.errors import WorkflowError
from rillet.events import StepStarted, StreamRetry, TextDelta
from rillet.providers.robust import RetryPolicy
from rillet.sim.script import Script
from rillet.workflow.loader import loads_workflow

ANSWER = "The storm has passed and here is the answer."


def flow(retry: str = "{max_retries: 1, base_delay_ms: 1}", fallbacks: str = "") -> str:
    return textwrap.dedent(f"""\
        workflow:
          name: robust
          steps:
            - name: r
              type: claude_robust
              claude_options:
                env: {{CLAUDE_CODE_MAX_RETRIES: "0"}}   # the CLI gives up at once
              prompt: "Answer through the storm"
              retry_config: {retry}
              fallbacks: {fallbacks or "[]"}
              output_to_file: r.txt
        """)


def storm(fault: dict) -> Script:
    return Script.model_validate({"rules": [
        {"match": "storm", "text": ANSWER, "timing": {"pattern": "fast"}, "fault": fault}]})


class Events:
    def __init__(self) -> None:
        self.events: list = []

    def on_event(self, event) -> None:
        self.events.append(event)

    def of(self, kind) -> list:
        return [e for e in self.events if type(e) is kind]


async def run(tmp_path, text: str, script: Script, events: Events | None = None):
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return await rillet.run_async(path, mode="mock", script=script, output_dir=tmp_path / "out",
                                  workspace_dir=tmp_path / "ws",
                                  listeners=[events] if events else [])


async def test_a_529_storm_falls_back_to_another_provider_after_the_retries(tmp_path):
    events = Events()
    # Two failed requests: the first attempt and its one retry; the fallback gets through.
    result = await run(tmp_path, flow(fallbacks="[{provider: anthropic_api, model: "
                                                "claude-haiku-4-5}]"),
                       storm({"kind": "http_error", "status": 529, "times": 2}), events)

    assert result.status == "completed", result.error
    assert result["r"].text == ANSWER
    assert result["r"].model == "claude-haiku-4-5"
    retries = events.of(StreamRetry)
    assert [r.attempt for r in retries] == [1, 2] and all(r.whole for r in retries)
    assert "retry 1 of 1" in retries[0].reason and "overloaded" in retries[0].reason
    assert "falling back to model claude-haiku-4-5 (anthropic_api)" in retries[1].reason
    assert "".join(e.text for e in events.of(TextDelta)) == ANSWER
    assert result["r"].metrics["retries"] == 2
    assert (tmp_path / "out" / "r.txt").read_text() == ANSWER
    assert len(events.of(StepStarted)) == 1  # one step, three attempts


async def test_text_of_a_broken_attempt_is_void_and_never_doubled(tmp_path):
    events = Events()
    # The first answer breaks off after five deltas; the CLI gives up; the step retries.
    result = await run(tmp_path, flow(), storm({"kind": "drop", "after_deltas": 5,
                                                "times": 1}), events)

    assert result.status == "completed", result.error
    assert result["r"].text == ANSWER
    deltas = [e.text for e in events.of(TextDelta)]
    assert "".join(deltas[:5]) == "".join(deltas[5:10])  # streamed, voided, sent again
    saved = json.loads(result.results_path.read_text())["steps"]["r"]
    assert saved["text"] == ANSWER
    assert (tmp_path / "out" / "r.txt").read_text() == ANSWER


async def test_a_failure_the_conditions_do_not_name_is_not_retried(tmp_path):
    events = Events()
    result = await run(tmp_path, flow("{max_retries: 3, retry_conditions: [timeout]}"),
                       storm({"kind": "http_error", "status": 529, "times": 1}), events)

    assert result.status == "failed"
    assert "overloaded" in result.error
    assert events.of(StreamRetry) == []


async def test_when_every_attempt_fails_the_last_error_fails_the_step(tmp_path):
    result = await run(tmp_path, flow(fallbacks="[{model: claude-haiku-4-5}]"),
                       storm({"kind": "http_error", "status": 529, "times": 10}))
    assert result.status == "failed" and "overloaded" in result.error
    assert result.failed_step == "r"


def test_backoff_waits_grow_as_the_strategy_says_and_stop_at_the_cap():
    exponential = RetryPolicy(base_delay_s=1.0, max_delay_s=5.0)
    assert [exponential.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    linear = RetryPolicy(backoff="linear", base_delay_s=0.5)
    assert [linear.delay(n) for n in (1, 2, 3)] == [0.5, 1.0, 1.5]
    assert RetryPolicy(backoff="fixed", base_delay_s=2.0).delay(3) == 2.0


@pytest.mark.parametrize("action", ["graceful_degradation", "emergency_response",
                                    "cached_response", "simplified_prompt"])
def test_pipeline_ex_fallback_actions_are_refused_with_the_reason(action):
    with pytest.raises(WorkflowError) as error:
        loads_workflow(flow(f"{{fallback_action: {action}}}"), "flow.yaml")
    message = str(error.value)
    assert f"fallback_action '{action}' is not supported" in message
    assert "list `fallbacks`" in message and "flow.yaml:" in message
