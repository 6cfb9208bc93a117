"""Steps with output_schema on the mock provider, for each provider kind: the object on the
result, PartialOutput while it streams, one repair on a mismatch, then a clear failure."""

from __future__ import annotations

import copy
import json

import pytest

import rillet
from rillet.events import PartialOutput, StepFailed, StreamRetry, TextDelta
from rillet.sim.script import Script

KINDS = {"claude_agent": "type: claude",
         "anthropic_api": "type: claude\n    provider: anthropic_api",
         "gemini": "type: gemini"}

GOOD = {"severity": "high", "reasons": ["the lock is never released", "no test covers it"]}
BAD = {"severity": "urgent", "reasons": []}


def flow(kind: str, *, streaming: bool = True) -> str:
    return f"""\
workflow:
  name: structured
  steps:
  - name: verdict
    {KINDS[kind]}
    async_streaming: {str(streaming).lower()}
    prompt: Judge the change to the cache lock.
    output_schema:
      type: object
      required: [severity, reasons]
      properties:
        severity: {{enum: [low, medium, high]}}
        reasons: {{type: array, items: {{type: string}}, minItems: 1}}
  - name: follow_up
    type: set_variable
    condition: "steps.verdict.output.severity == 'high' and steps.verdict.result.severity == 'high'"
    variables:
      line: "{{{{ steps.verdict.output.severity }}}}; \\
        {{{{ steps.verdict.result.reasons[0] }}}}; {{{{ steps.verdict.severity }}}}"
"""


def script(*replies: dict) -> Script:
    # Paced like a fast model (one token every 6 ms), so every delta gets its PartialOutput.
    paced = {"first_token_delay_s": 0, "tokens_per_second": 160, "chunk_tokens": 1,
             "jitter": 0}
    return Script.model_validate({"timing": paced,
                                  "rules": list(replies)})


@pytest.mark.parametrize("kind", KINDS)
async def test_the_object_is_on_the_result_in_templates_conditions_and_results_json(
        kind, write_workflow, run_opts, recorder):
    opts = {**run_opts, "script": script({"match": "cache lock", "output": GOOD})}
    result = await rillet.run_async(write_workflow(flow(kind)), **opts)

    assert result.status == "completed", result.error
    verdict = result["verdict"]
    assert verdict.output == GOOD
    assert json.loads(verdict.text) == GOOD  # the text is the object's JSON
    # The condition read .output and .result; the templates read both and the bare key.
    assert result["follow_up"].variables == {"line": "high; the lock is never released; high"}
    saved = json.loads(result.results_path.read_text())
    assert saved["steps"]["verdict"]["output"] == GOOD


class Snapshots:
    """Copies each PartialOutput's object when it arrives (the object grows in place)."""

    def __init__(self) -> None:
        self.values: list[dict] = []

    def on_event(self, event) -> None:
        if type(event) is PartialOutput:
            self.values.append(copy.deepcopy(event.value))


@pytest.mark.parametrize("kind", KINDS)
async def test_partial_objects_stream_as_the_json_arrives(kind, write_workflow, run_opts,
                                                          recorder):
    snapshots = Snapshots()
    opts = {**run_opts, "script": script({"match": "cache lock", "output": GOOD}),
            "listeners": [recorder, snapshots]}
    result = await rillet.run_async(write_workflow(flow(kind)), **opts)

    partials = snapshots.values
    deltas = recorder.of(TextDelta, "verdict")
    assert len(partials) > 5
    assert "".join(d.text for d in deltas) == result["verdict"].text
    # The last is the whole object; before it, a reason was seen half-written.
    assert partials[-1] == GOOD
    first_reason = GOOD["reasons"][0]
    halves = [p["reasons"][0] for p in partials if p.get("reasons")]
    assert any(first_reason.startswith(half) and half != first_reason for half in halves)
    assert partials[0] in ({}, {"severity": ""}, {"severity": "h"})
    # Each PartialOutput follows the TextDelta that changed the object.
    kinds = [type(e) for e in recorder.events if e.step == "verdict"]
    first = kinds.index(PartialOutput)
    assert kinds[first - 1] is TextDelta


@pytest.mark.parametrize("kind", KINDS)
async def test_a_mismatch_is_repaired_once_without_doubling_the_text(kind, write_workflow,
                                                                     run_opts, recorder):
    opts = {**run_opts, "script": script(
        {"match": "does not fit the required JSON schema", "output": GOOD},
        {"match": "cache lock", "output": BAD})}
    result = await rillet.run_async(write_workflow(flow(kind)), **opts)

    assert result.status == "completed", result.error
    verdict = result["verdict"]
    assert verdict.output == GOOD
    assert json.loads(verdict.text) == GOOD  # the first, voided answer is not in the text
    retries = recorder.of(StreamRetry, "verdict")
    assert len(retries) == 1 and retries[0].whole
    assert "severity: 'urgent' is not one of" in retries[0].reason
    # Both answers' tokens are counted.
    good_only = await rillet.run_async(write_workflow(flow(kind), "good.yaml"), **{
        **run_opts, "listeners": [], "script": script({"match": "cache lock", "output": GOOD})})
    assert verdict.output_tokens > good_only["verdict"].output_tokens


@pytest.mark.parametrize("kind", KINDS)
async def test_a_second_mismatch_fails_the_step_and_keeps_the_raw_text(kind, write_workflow,
                                                                       run_opts, recorder):
    opts = {**run_opts, "script": script({"match": "cache lock", "output": BAD})}
    result = await rillet.run_async(write_workflow(flow(kind)), **opts)

    assert result.status == "failed"
    assert result.failed_step == "verdict"
    assert "does not fit output_schema (inline) after 1 repair attempt" in result.error
    assert "reasons: [] should be non-empty" in result.error
    failed = recorder.of(StepFailed, "verdict")[0]
    assert json.loads(failed.partial_text) == BAD
    saved = json.loads(result.results_path.read_text())["steps"]["verdict"]
    assert saved["status"] == "failed" and json.loads(saved["text"]) == BAD
    assert "follow_up" not in result.results


@pytest.mark.parametrize("kind", KINDS)
async def test_without_a_scripted_object_one_is_generated_from_the_schema(kind, write_workflow,
                                                                          run_opts):
    result = await rillet.run_async(write_workflow(flow(kind)), **run_opts)

    output = result["verdict"].output
    assert output["severity"] in ("low", "medium", "high")
    assert len(output["reasons"]) >= 1 and all(isinstance(r, str) for r in output["reasons"])


async def test_a_step_that_does_not_stream_sends_no_partial_objects(write_workflow, run_opts,
                                                                    recorder):
    opts = {**run_opts, "script": script({"match": "cache lock", "output": GOOD})}
    result = await rillet.run_async(write_workflow(flow("anthropic_api", streaming=False)),
                                    **opts)

    assert result["verdict"].output == GOOD
    assert recorder.of(PartialOutput, "verdict") == []
    assert [d.text for d in recorder.of(TextDelta, "verdict")] == [result["verdict"].text]


async def test_event_logs_leave_out_partial_objects_unless_asked_and_the_run_log_samples_them(
        write_workflow, run_opts, tmp_path):
    text = flow("anthropic_api").replace(
        "    prompt: Judge the change to the cache lock.\n",
        "    prompt: Judge the change to the cache lock.\n"
        "    stream_handler: [jsonl, file]\n"
        "    stream_handler_opts:\n"
        "      jsonl: {path: all.jsonl}\n"
        "      file: {path: file.jsonl, format: jsonl}\n", 1)
    opts = {**run_opts, "script": script({"match": "cache lock", "output": GOOD})}
    result = await rillet.run_async(write_workflow(text), **opts)

    assert result.success, result.error
    for name in ("all.jsonl", "file.jsonl"):
        lines = [json.loads(line) for line in
                 (tmp_path / "out" / name).read_text().splitlines()]
        kinds = {line["type"] for line in lines}
        assert "TextDelta" in kinds and "PartialOutput" not in kinds, name
    # The run's own log keeps a few, for replays: far fewer than the deltas, and each an
    # object the final one grew from; its last line still shows the run ended.
    run_log = [json.loads(line) for line in
               (tmp_path / "out" / result.run_id / "events.jsonl").read_text().splitlines()]
    kinds = [line["type"] for line in run_log]
    partials = [line["value"] for line in run_log if line["type"] == "PartialOutput"]
    assert "TextDelta" in kinds and 1 <= len(partials) <= kinds.count("TextDelta")
    assert all(set(value) <= set(result.results["verdict"].output) for value in partials)
    assert kinds[-1] == "PipelineCompleted"


async def test_an_event_log_that_names_partial_output_keeps_it(write_workflow, run_opts,
                                                              tmp_path):
    text = flow("gemini").replace(
        "    prompt: Judge the change to the cache lock.\n",
        "    prompt: Judge the change to the cache lock.\n"
        "    stream_handler: jsonl\n"
        "    stream_handler_opts: {jsonl: {path: partial.jsonl, events: [PartialOutput]}}\n", 1)
    opts = {**run_opts, "script": script({"match": "cache lock", "output": GOOD})}
    result = await rillet.run_async(write_workflow(text), **opts)

    lines = [json.loads(line) for line in
             (tmp_path / "out" / "partial.jsonl").read_text().splitlines()]
    assert result.success and lines
    assert {line["type"] for line in lines} == {"PartialOutput"}
    assert lines[-1]["value"] == GOOD
