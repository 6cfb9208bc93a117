"""The executor on the mock provider: streaming, fan-out, failures, cancellation, results."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import rillet
from rillet.engine import output as output_module
from rillet.events import (
    HandlerFailed, PipelineCompleted, PipelineFailed, PipelineStarted, StepCompleted, StepFailed,
    StepSkipped, StepStarted, StreamRetry, TextDelta,
)
from rillet.streaming.handler import BaseHandler

TWO_STEPS = """
workflow:
  name: two-steps
  global_vars: {topic: rivers}
  steps:
    - name: draft
      type: claude
      prompt:
        - type: static
          content: "Write about {{global_vars.topic}}"
      mock:
        text: "Rivers carve valleys over thousands of years."
        timing: {pattern: fast}
    - name: polish
      type: claude
      async_streaming: false
      prompt:
        - type: static
          content: "Polish this:"
        - type: previous_response
          step: draft
      mock:
        text: "Rivers patiently carve deep valleys."
        timing: {pattern: fast}
    - name: remember
      type: set_variable
      variables:
        words: "{{ steps.polish.text.split() | length }}"
"""


def texts(recorder, step):
    return [e.text for e in recorder.of(TextDelta, step)]


async def test_streaming_and_non_streaming_steps_in_one_workflow(write_workflow, run_opts,
                                                                   recorder):
    result = await rillet.run_async(write_workflow(TWO_STEPS), **run_opts)

    assert result.status == "completed"
    assert result["draft"].text == "Rivers carve valleys over thousands of years."
    # The streaming step reached listeners token by token...
    assert len(texts(recorder, "draft")) > 3
    assert "".join(texts(recorder, "draft")) == result["draft"].text
    # ...the non-streaming one as a single delta holding the whole text.
    assert texts(recorder, "polish") == ["Rivers patiently carve deep valleys."]
    assert result["remember"].variables == {"words": 5}
    assert recorder.types("polish")[0] == "StepStarted"
    assert recorder.types("polish")[-1] == "StepCompleted"
    assert type(recorder.events[0]) is PipelineStarted
    assert type(recorder.events[-1]) is PipelineCompleted


async def test_previous_response_feeds_the_next_prompt(write_workflow, run_opts):
    captured = {}

    flow = write_workflow(TWO_STEPS)
    from rillet.providers import registry

    original = registry.ProviderPool.open_stream

    def spy(self, request, kind):
        captured[request.step] = request.prompt
        return original(self, request, kind)

    registry.ProviderPool.open_stream = spy
    try:
        await rillet.run_async(flow, **run_opts)
    finally:
        registry.ProviderPool.open_stream = original
    assert captured["draft"] == "Write about rivers"
    assert captured["polish"] == "Polish this:\n\nRivers carve valleys over thousands of years."


async def test_results_json_holds_every_step_text_metrics_and_status(write_workflow, run_opts):
    result = await rillet.run_async(write_workflow(TWO_STEPS), **run_opts)

    document = json.loads(result.results_path.read_text())
    assert result.results_path == run_opts["output_dir"] / result.run_id / "results.json"
    assert document["status"] == "completed"
    assert document["steps"]["draft"]["text"] == "Rivers carve valleys over thousands of years."
    assert document["steps"]["draft"]["metrics"]["deltas"] > 3
    assert document["steps"]["draft"]["output_tokens"] > 0
    assert document["steps"]["remember"]["variables"] == {"words": 5}
    log = (result.results_path.parent / "steps.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == ["draft", "polish", "remember"]


class Exploding(BaseHandler):
    name = "exploding"

    def __init__(self, after: int):
        self.after = after
        self.seen = 0

    def on_event(self, event):
        if type(event) is TextDelta:
            self.seen += 1
            if self.seen == self.after:
                raise RuntimeError("handler bug")


async def test_handler_error_does_not_lose_step_text(write_workflow, run_opts, recorder):
    bad = Exploding(after=2)
    run_opts["listeners"] = [bad, recorder]
    result = await rillet.run_async(write_workflow(TWO_STEPS), **run_opts)

    assert result.status == "completed"
    assert result["draft"].text == "Rivers carve valleys over thousands of years."
    failures = recorder.of(HandlerFailed)
    assert len(failures) == 1 and failures[0].handler == "exploding"
    assert "handler bug" in failures[0].error
    assert bad.seen == 2  # detached: it saw nothing after it raised
    assert any("exploding" in w for w in result.warnings)


DROPPING = """
workflow:
  name: dropping
  steps:
    - name: flaky
      type: claude
      prompt: "Tell a long story"
      output_to_file: flaky.txt
      mock:
        text: "one two three four five six seven eight nine ten eleven twelve"
        timing: {pattern: fast}
        fault: {kind: drop, after_deltas: 5}
    - name: never
      type: claude
      prompt: "unreached"
"""


async def test_stream_broken_midway_keeps_partial_text_and_stops_the_run(write_workflow,
                                                                        run_opts, recorder):
    result = await rillet.run_async(write_workflow(DROPPING), **run_opts)

    assert result.status == "failed"
    assert result.failed_step == "flaky"
    partial = "".join(texts(recorder, "flaky"))
    assert partial and result["flaky"].text == partial
    assert result["flaky"].status == "failed"
    assert "flaky" in result.error and "drop" in result.error.lower()
    assert "never" not in result.results
    document = json.loads(result.results_path.read_text())
    assert document["steps"]["flaky"]["text"] == partial
    assert (run_opts["output_dir"] / "flaky.txt").read_text() == partial
    failed = recorder.of(StepFailed, "flaky")
    assert failed[0].partial_text == partial
    assert type(recorder.events[-1]) is PipelineFailed
    with pytest.raises(rillet.StepError) as info:
        result.raise_for_status()
    assert info.value.partial_text == partial


SLOW = """
workflow:
  name: slow
  steps:
    - name: long
      type: claude
      prompt: "Write slowly"
      output_to_file: long.txt
      mock:
        text: "{words}"
        timing: {{pattern: slow, first_token_delay_s: 0, tokens_per_second: 200}}
"""


async def test_cancelling_a_run_closes_the_stream_and_keeps_what_was_produced(
        write_workflow, run_opts, recorder):
    flow = write_workflow(SLOW.format(words=" ".join(f"w{i}" for i in range(400))))
    task = asyncio.ensure_future(rillet.run_async(flow, **run_opts))
    while len(recorder.of(TextDelta)) < 10:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    run_dir = next((run_opts["output_dir"]).glob("*/results.json"))
    document = json.loads(run_dir.read_text())
    step = document["steps"]["long"]
    assert document["status"] == "cancelled"
    assert step["status"] == "cancelled"
    streamed = "".join(texts(recorder, "long"))
    assert step["text"] == streamed and len(streamed) > 10
    assert step["metrics"]["interrupted"] is True
    assert (run_opts["output_dir"] / "long.txt").read_text() == streamed
    assert recorder.of(StepFailed, "long")[0].cancelled is True


async def test_output_to_file_is_written_while_the_text_arrives(write_workflow, run_opts,
                                                                monkeypatch):
    monkeypatch.setattr(output_module, "FLUSH_INTERVAL_S", 0.0)
    flow = write_workflow(SLOW.format(words=" ".join(f"w{i}" for i in range(30))))
    seen_in_file: list[str] = []
    target = run_opts["output_dir"] / "long.txt"

    class Peek(BaseHandler):
        def on_event(self, event):
            if type(event) is TextDelta and event.text.strip() == "w10":
                seen_in_file.append(target.read_text())

    run_opts["listeners"].append(Peek())
    result = await rillet.run_async(flow, **run_opts)

    assert result.success
    assert seen_in_file and seen_in_file[0].endswith(" w10")
    assert target.read_text() == result["long"].text


CONDITIONAL = """
workflow:
  name: conditional
  steps:
    - name: check
      type: claude
      prompt: "Is it fine?"
      mock: {text: "LGTM, ship it", timing: {pattern: fast}}
    - name: fix
      type: claude
      condition: "not (steps.check.text contains 'LGTM')"
      prompt: "Fix it"
      mock: {text: "fixed", timing: {pattern: fast}}
    - name: celebrate
      type: set_variable
      condition: "steps.check.text contains 'LGTM'"
      variables: {shipped: true}
"""


async def test_condition_false_skips_the_step(write_workflow, run_opts, recorder):
    result = await rillet.run_async(write_workflow(CONDITIONAL), **run_opts)

    assert result.success
    assert result.skipped == ["fix"]
    assert "fix" not in result.results
    assert recorder.of(StepSkipped, "fix")[0].reason == "condition is false"
    assert result["celebrate"].variables == {"shipped": True}


BUDGET = """
workflow:
  name: budget
  max_cost_usd: 0.000001
  steps:
    - name: pricey
      type: claude
      model: claude-sonnet-4-5
      prompt: "Write a lot"
      mock: {text: "many words here to cost something real", timing: {pattern: fast}}
"""


async def test_a_run_over_its_budget_stops_with_a_clear_error(write_workflow, run_opts):
    result = await rillet.run_async(write_workflow(BUDGET), **run_opts)

    assert result.status == "failed"
    assert "max_cost_usd" in result.error


TIMEOUT = """
workflow:
  name: timeout
  steps:
    - name: stalls
      type: claude
      prompt: "stall"
      timeout_s: 0.3
      mock:
        text: "alpha beta gamma delta epsilon zeta"
        timing: {pattern: fast}
        fault: {kind: stall, after_deltas: 3, seconds: 30}
"""


async def test_a_step_timeout_keeps_the_partial_text(write_workflow, run_opts, recorder):
    result = await rillet.run_async(write_workflow(TIMEOUT), **run_opts)

    assert result.status == "failed"
    assert "timed out after 0.3 s" in result.error
    assert result["stalls"].text == "".join(texts(recorder, "stalls"))
    assert result["stalls"].text.startswith("alpha")


CHECKPOINTED = """
workflow:
  name: checkpointed
  checkpoint_enabled: true
  checkpoint_dir: {checkpoints}
  steps:
    - name: first
      type: claude
      prompt: "one"
      mock: {{text: "first answer", timing: {{pattern: fast}}}}
    - name: second
      type: claude
      prompt:
        - type: previous_response
          step: first
      mock: {{text: "second answer", timing: {{pattern: fast}}{fault}}}
"""


async def test_resume_skips_steps_a_checkpoint_says_are_done(write_workflow, run_opts,
                                                              tmp_path, recorder):
    checkpoints = tmp_path / "cp"
    failing = write_workflow(CHECKPOINTED.format(
        checkpoints=checkpoints, fault=", fault: {kind: drop, after_deltas: 1}"))
    first = await rillet.run_async(failing, **run_opts)
    assert first.status == "failed" and first.failed_step == "second"

    fixed = write_workflow(CHECKPOINTED.format(checkpoints=checkpoints, fault=""))
    recorder.events.clear()
    second = await rillet.run_async(fixed, resume=True, **run_opts)

    assert second.success
    assert second["first"].text == "first answer"
    assert second["second"].text == "second answer"
    started = [e.step for e in recorder.of(StepStarted)]
    assert started == ["second"]


async def test_stream_yields_every_event_of_the_run_in_order(write_workflow, tmp_path):
    flow = write_workflow(TWO_STEPS)
    seen = [e async for e in rillet.stream(flow, mode="mock", output_dir=tmp_path / "o",
                                           workspace_dir=tmp_path / "w")]

    assert type(seen[0]) is PipelineStarted
    assert type(seen[-1]) is PipelineCompleted
    completed = [e.step for e in seen if type(e) is StepCompleted]
    assert completed == ["draft", "polish", "remember"]
    assert "".join(e.text for e in seen if type(e) is TextDelta and e.step == "draft") == \
        "Rivers carve valleys over thousands of years."


async def test_leaving_stream_early_cancels_the_run(write_workflow, tmp_path):
    flow = write_workflow(SLOW.format(words=" ".join(f"w{i}" for i in range(400))))
    count = 0
    agen = rillet.stream(flow, mode="mock", output_dir=tmp_path / "o",
                         workspace_dir=tmp_path / "w")
    async for event in agen:
        if type(event) is TextDelta:
            count += 1
            if count == 5:
                break
    await agen.aclose()
    document = json.loads(next((tmp_path / "o").glob("*/results.json")).read_text())
    assert document["status"] == "cancelled"
    words = document["steps"]["long"]["text"].split()
    assert len(words) >= count
    assert words == [f"w{i}" for i in range(len(words))]


async def test_provider_restart_leaves_no_duplicate_text_in_output_file(tmp_path):
    """A StreamRetry voids the text so far: the result and output file hold it once."""
    from rillet.engine.output import OutputFileWriter
    from rillet.result import StepResult

    writer = OutputFileWriter(tmp_path / "o.txt")
    for event in (TextDelta("s", "Hello "), StreamRetry("s", 1, "dropped"),
                  TextDelta("s", "Hello "), TextDelta("s", "world")):
        writer.on_event(event)
    writer.on_complete(StepResult(step="s", text="Hello world"))
    assert (tmp_path / "o.txt").read_text() == "Hello world"


def test_a_retry_in_a_later_message_cuts_the_output_file_back_to_the_last_message(tmp_path):
    from rillet.engine.output import OutputFileWriter
    from rillet.events import MessageComplete
    from rillet.result import StepResult

    writer = OutputFileWriter(tmp_path / "o.txt")
    for event in (TextDelta("s", "Før the tool. "), MessageComplete("s", "tool_use"),
                  TextDelta("s", "Aft"), StreamRetry("s", 1, "dropped"),
                  TextDelta("s", "After.")):
        writer.on_event(event)
    writer.on_complete(StepResult(step="s", text="Før the tool. After."))
    assert (tmp_path / "o.txt").read_text() == "Før the tool. After."


def test_sync_run_wraps_the_async_one(write_workflow, run_opts):
    result = rillet.run(write_workflow(TWO_STEPS), **run_opts)
    assert result.success and result["polish"].text == "Rivers patiently carve deep valleys."


def test_unknown_run_option_is_an_error(write_workflow):
    with pytest.raises(TypeError, match="unknown run option"):
        rillet.run(write_workflow(TWO_STEPS), moed="mock")


def test_output_paths_cannot_escape_the_output_dir(tmp_path):
    from rillet.engine.context import safe_output_path

    assert safe_output_path(tmp_path, "a/b.txt") == tmp_path / "a" / "b.txt"
    for bad in ("../x.txt", "/etc/passwd", "a/../../x"):
        with pytest.raises(ValueError, match="inside"):
            safe_output_path(tmp_path, bad)


async def test_missing_previous_response_fails_the_step_clearly(write_workflow, run_opts):
    flow = write_workflow("""
    workflow:
      name: gap
      steps:
        - name: maybe
          type: claude
          condition: "false"
          prompt: "x"
        - name: uses
          type: claude
          prompt:
            - type: previous_response
              step: maybe
    """)
    result = await rillet.run_async(flow, **run_opts)
    assert result.status == "failed" and result.failed_step == "uses"
    assert "step 'maybe', which did not run" in result.error


async def test_a_condition_that_cannot_be_evaluated_fails_the_run_clearly(write_workflow,
                                                                         run_opts):
    flow = write_workflow("""
    workflow:
      name: bad-condition
      steps:
        - name: maybe
          type: claude
          condition: "false"
          prompt: "x"
        - name: after
          type: claude
          condition: "steps.maybe.text contains 'x'"
          prompt: "y"
    """)
    result = await rillet.run_async(flow, **run_opts)
    assert result.status == "failed" and result.failed_step == "after"
    assert "condition" in result.error and "maybe" in result.error
    assert json.loads(result.results_path.read_text())["steps"]["after"]["status"] == "failed"


async def test_file_prompt_parts_are_read_relative_to_the_workflow(write_workflow, run_opts,
                                                                   tmp_path):
    (tmp_path / "notes.md").write_text("NOTES BODY")
    flow = write_workflow("""
    workflow:
      name: files
      steps:
        - name: read
          type: claude
          prompt:
            - type: file
              path: notes.md
          mock: {text: "ok", timing: {pattern: fast}}
    """)
    from rillet.providers import registry

    prompts = []
    original = registry.ProviderPool.open_stream

    def spy(self, request, kind):
        prompts.append(request.prompt)
        return original(self, request, kind)

    registry.ProviderPool.open_stream = spy
    try:
        result = await rillet.run_async(flow, **run_opts)
    finally:
        registry.ProviderPool.open_stream = original
    assert result.success and prompts == ["NOTES BODY"]


def test_a_run_that_uses_no_workspace_creates_none(write_workflow, run_opts, tmp_path):
    result = rillet.run(write_workflow(TWO_STEPS), **run_opts)
    assert result.success and not Path(run_opts["workspace_dir"]).exists()
    assert (tmp_path / "out" / result.run_id / "results.json").is_file()


def test_a_workspace_that_could_never_be_made_refuses_the_run_at_once(write_workflow, run_opts,
                                                                      tmp_path):
    from rillet.errors import RunRefused

    (tmp_path / "a_file").write_text("", encoding="utf-8")
    with pytest.raises(RunRefused, match="the workspace folder .* cannot be used: .* is not a folder"):
        rillet.run(write_workflow(TWO_STEPS),
                   **{**run_opts, "workspace_dir": tmp_path / "a_file" / "ws"})
    assert not (tmp_path / "out").exists()  # nothing ran

def test_the_workspace_is_created_when_the_claude_cli_is_set_up_to_run_in_it(tmp_path):
    from rillet.providers.base import ModelRequest
    from rillet.providers.claude_agent.options import build_options

    workspace = tmp_path / "ws" / "nested"
    options = build_options(ModelRequest(step="s", prompt="hi", mode="sim",
                                         workspace_dir=str(workspace)), env={})
    assert workspace.is_dir() and str(options.cwd) == str(workspace)
