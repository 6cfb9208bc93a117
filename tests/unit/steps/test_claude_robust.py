"""claude_robust: retries with backoff, then fallbacks; each attempt an event, the text once."""

from __future__ import annotations

import json
import textwrap

import pytest

import rillet
from rillet.errors import ProviderError, WorkflowError
from rillet.events import ResponseComplete, StepStarted, StreamRetry, TextDelta
from rillet.providers.base import ModelRequest
from rillet.providers.robust import RetryPolicy, robust_stream
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
                                    "cached_response"])
async def test_graceful_degradation_records_the_step_as_degraded_and_the_run_goes_on(
        tmp_path, action):
    text = flow(f"{{max_retries: 1, base_delay_ms: 1, fallback_action: {action}}}") + \
        "    - {name: after, type: echo, value: still here}\n"
    result = await run(tmp_path, text, storm({"kind": "http_error", "status": 529,
                                              "times": 10}))

    assert result.status == "completed", result.error
    step = result["r"]
    assert step.status == "degraded" and not step.success
    assert step.text == ""  # nothing was answered, and nothing is made up in its place
    assert "overloaded" in step.error and f"fallback_action: {action}" in step.error
    assert result["after"].text == "still here"
    assert result.degraded == ["r"]
    assert any("step 'r' degraded" in w for w in result.warnings)
    saved = json.loads(result.results_path.read_text())
    assert saved["degraded"] == ["r"] and saved["steps"]["r"]["status"] == "degraded"


async def test_a_later_step_that_takes_a_degraded_answer_fails_and_names_it(tmp_path):
    text = flow("{max_retries: 0, fallback_action: graceful_degradation}") + \
        "    - {name: after, type: claude, prompt: [{type: previous_response, step: r}]}\n"
    result = await run(tmp_path, text, storm({"kind": "http_error", "status": 529,
                                              "times": 10}))

    assert result.status == "failed" and result.failed_step == "after"
    assert "step 'r', which degraded" in result.error


async def test_simplified_prompt_answers_pipeline_ex_s_prompt_and_says_so(tmp_path):
    events = Events()
    script = Script.model_validate({"rules": [
        {"match": "storm", "text": ANSWER, "timing": {"pattern": "fast"},
         "fault": {"kind": "http_error", "status": 529, "times": 10}},
        {"match": "brief, simple response for: r", "text": "A short answer.",
         "timing": {"pattern": "fast"}}]})
    result = await run(tmp_path, flow("{max_retries: 1, base_delay_ms: 1, "
                                      "fallback_action: simplified_prompt}"), script, events)

    assert result.status == "completed", result.error
    step = result["r"]
    assert step.status == "degraded" and step.text == "A short answer."
    assert "'Provide a brief, simple response for: r'" in step.error
    assert "overloaded" in step.error
    reasons = [e.reason for e in events.of(StreamRetry)]
    assert len(reasons) == 2 and "asking the simplified prompt instead" in reasons[1]
    assert result.degraded == ["r"]


async def test_when_the_simplified_prompt_fails_too_the_step_fails(tmp_path):
    result = await run(tmp_path, flow("{max_retries: 0, fallback_action: simplified_prompt}"),
                       Script.model_validate({"rules": [
                           {"match": "", "text": ANSWER, "timing": {"pattern": "fast"},
                            "fault": {"kind": "http_error", "status": 529, "times": 10}}]}))
    assert result.status == "failed" and result.degraded == []
    assert "the simplified prompt (fallback_action) failed too" in result.error


def test_use_cached_response_is_refused_with_the_reason():
    with pytest.raises(WorkflowError) as error:
        loads_workflow(flow("{fallback_action: use_cached_response}"), "flow.yaml")
    message = str(error.value)
    assert "fallback_action 'use_cached_response' is not supported" in message
    assert "kept no cache" in message and "flow.yaml:" in message


def test_degradation_never_covers_a_spent_budget_or_a_cancelled_step():
    from rillet.errors import RilletError
    from rillet.result import StepResult
    from rillet.steps.claude_robust import recover

    step, = loads_workflow(flow("{fallback_action: graceful_degradation}")).steps
    failed = StepResult(step="r", status="failed", error="boom")
    assert recover(step, failed, RilletError("the run's cost exceeds max_cost_usd")) is None
    cancelled = StepResult(step="r", status="cancelled", error="the step was cancelled")
    assert recover(step, cancelled, ProviderError("x", kind="network")) is None
    assert recover(step, failed, TimeoutError()).status == "degraded"


def test_a_robust_step_starts_from_the_production_preset_unless_it_names_one():
    plain, chat = loads_workflow(textwrap.dedent("""\
        workflow:
          name: presets
          steps:
            - {name: a, type: claude_robust, prompt: go}
            - {name: b, type: claude_robust, preset: chat, prompt: go,
               claude_options: {max_turns: 1}}
        """)).steps
    assert plain.preset == "production" and plain.claude_options.model == "opus"
    assert plain.claude_options.allowed_tools == ["Read"] and plain.timeout_s == 120.0
    assert chat.claude_options.tools == [] and chat.claude_options.max_turns == 1


@pytest.mark.parametrize("key", ["cost_tracking", "telemetry_enabled"])
def test_what_rillet_always_records_is_accepted_when_true_and_refused_when_false(key):
    base = "    - {name: a, type: claude_robust, prompt: go, claude_options: {%s: %s}}\n"
    head = "workflow:\n  name: w\n  steps:\n"
    loads_workflow(head + base % (key, "true"))
    with pytest.raises(WorkflowError) as error:
        loads_workflow(head + base % (key, "false"), "flow.yaml")
    assert "can only be true" in str(error.value)


def test_claude_options_retry_config_becomes_a_policy_nested_in_the_step_s():
    from rillet.steps.claude_robust import retry_policy

    step, = loads_workflow(textwrap.dedent("""\
        workflow:
          name: nested
          steps:
            - name: r
              type: claude_robust
              prompt: go
              retry_config: {max_retries: 3, backoff_strategy: linear}
              claude_options:
                retry_config: {max_retries: 2, backoff_strategy: exponential,
                               retry_on: [timeout]}
        """)).steps
    policy = retry_policy(step)
    assert policy.retries == 3 and policy.backoff == "linear"
    assert policy.inner.retries == 1 and policy.inner.kinds == frozenset(
        {"timeout", "network", "incomplete"})


async def test_nested_retries_try_each_attempt_again_before_the_step_s_policy_does():
    calls: list[str] = []
    waits: list[float] = []

    async def open_stream(request, kind):
        calls.append(request.model or "default")
        if len(calls) < 4:
            raise ProviderError("overloaded", kind="overloaded")
        yield ResponseComplete(request.step)

    async def sleep(seconds):
        waits.append(seconds)

    policy = RetryPolicy(retries=1, base_delay_s=5.0, kinds=frozenset({"overloaded"}),
                         inner=RetryPolicy(retries=1, base_delay_s=1.0,
                                           kinds=frozenset({"overloaded"}),
                                           label="claude_options.retry_config"))
    events = [e async for e in robust_stream(open_stream, ModelRequest("r", "go"),
                                             "claude_agent", policy, sleep=sleep)]

    assert len(calls) == 4  # two attempts of the step, each tried twice
    assert waits == [1.0, 5.0, 1.0]
    reasons = [e.reason for e in events if type(e) is StreamRetry]
    assert reasons[0].startswith("claude_options.retry_config: attempt 1 failed")
    assert type(events[-1]) is ResponseComplete


def test_an_empty_retry_on_retries_nothing():
    from rillet.providers.robust import policy_kinds

    assert policy_kinds([]) == frozenset()
    assert policy_kinds(None) and policy_kinds(["timeout"]) >= {"timeout"}


def test_the_console_says_a_run_with_a_degraded_step_finished_degraded(tmp_path):
    import io
    from types import SimpleNamespace

    from rillet.cli_report import RunReporter

    def outro(degraded):
        stream = io.StringIO()
        RunReporter(stream, tmp_path).outro(SimpleNamespace(
            success=True, cost_usd=0.0, duration_s=1.0, results_path="r.json",
            degraded=degraded))
        return stream.getvalue()

    assert "done, degraded: r, s" in outro(["r", "s"])
    assert "✓ done in" in outro([]) and "degraded" not in outro([])
