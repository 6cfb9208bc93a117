"""claude_batch: pipeline_ex's batch of prompts, each a claude step at NAME[i], run at the
same time up to max_parallel, with a result per task."""

from __future__ import annotations

import json
import textwrap

import pytest

import rillet
from rillet.errors import WorkflowError
from rillet.events import StepCompleted, StepStarted, TextDelta
from rillet.providers import registry
from rillet.sim.script import Script
from rillet.workflow.loader import loads_workflow

FLOW = textwrap.dedent("""\
    workflow:
      name: batch
      steps:
        - name: batch
          type: claude_batch
          batch_config: {max_parallel: 2, timeout_per_task: 20000}
          prompt: "Answer in one sentence."
          tasks:
            - task_id: addition
              prompt: "What is 15 + 27?"
            - task_id: notes
              file: notes.txt
            - prompt: "What is 8 x 9?"
        - name: after
          type: claude
          prompt: "Second: {{ steps.batch[1].text }}"
    """)


class Events:
    def __init__(self):
        self.events = []

    def on_event(self, event):
        self.events.append(event)


@pytest.fixture
def prompts(monkeypatch):
    seen = {}
    original = registry.ProviderPool.open_stream

    def spy(self, request, kind):
        seen[request.step] = request.prompt
        return original(self, request, kind)

    monkeypatch.setattr(registry.ProviderPool, "open_stream", spy)
    return seen


def most_at_once(events) -> int:
    running, most = set(), 0
    for event in events:
        if type(event) is StepStarted and event.step.startswith("batch["):
            running.add(event.step)
            most = max(most, len(running))
        elif type(event) is StepCompleted:
            running.discard(event.step)
    return most


async def test_tasks_stream_under_their_paths_at_most_max_parallel_at_once(tmp_path, prompts):
    (tmp_path / "notes.txt").write_text("The meeting moved to Tuesday.")
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    events = Events()
    result = await rillet.run_async(path, mode="mock", listeners=[events],
                                    output_dir=tmp_path / "o", workspace_dir=tmp_path / "w")

    assert result.success, result.error
    tasks = result["batch"].children
    assert [t.step for t in tasks] == ["batch[0]", "batch[1]", "batch[2]"]
    for task in tasks:
        streamed = "".join(e.text for e in events.events
                           if type(e) is TextDelta and e.step == task.step)
        assert task.text == streamed != ""
    assert most_at_once(events.events) == 2
    assert prompts["batch[0]"] == "What is 15 + 27?\n\nAnswer in one sentence."
    assert prompts["batch[1]"] == "The meeting moved to Tuesday.\n\nAnswer in one sentence."
    assert prompts["after"] == "Second: " + tasks[1].text
    consolidated = json.loads(result["batch"].text)
    assert [(c["task_id"], c["status"]) for c in consolidated] == [
        ("addition", "completed"), ("notes", "completed"), ("task_2", "completed")]
    assert result["batch"].output_tokens == sum(t.output_tokens for t in tasks)
    saved = json.loads(result.results_path.read_text())["steps"]["batch"]["children"]
    assert [s["text"] for s in saved] == [t.text for t in tasks]


async def test_a_task_past_its_timeout_fails_alone_and_the_others_finish(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent("""\
        workflow:
          name: batch
          steps:
            - name: batch
              type: claude_batch
              batch_config: {timeout_per_task: 300}
              tasks:
                - {task_id: quick, prompt: "quick one"}
                - {task_id: slow, prompt: "slow one"}
        """))
    script = Script.model_validate({"rules": [
        {"match": "quick", "timing": {"pattern": "fast"}},
        {"match": "slow", "timing": {"first_token_delay_s": 0.05, "tokens_per_second": 20}}]})
    result = await rillet.run_async(path, mode="mock", script=script,
                                    output_dir=tmp_path / "o", workspace_dir=tmp_path / "w")

    assert result.success, result.error  # pipeline_ex's way: the batch degrades
    quick, slow = result["batch"].children
    assert quick.status == "completed" and quick.text
    assert slow.status == "failed" and slow.text  # the text it had is kept
    assert any("batch[1]" in w for w in result.warnings)
    assert [c["status"] for c in json.loads(result["batch"].text)] == ["completed", "failed"]


def test_a_preset_makes_each_task_a_claude_smart_step_with_the_shared_options():
    step, = loads_workflow(textwrap.dedent("""\
        workflow:
          name: batch
          steps:
            - name: b
              type: claude_batch
              preset: analysis
              claude_options: {max_turns: 1}
              tasks: [{prompt: one}, {prompt: two}]
        """)).steps
    assert [t.type for t in step.steps] == ["claude_smart", "claude_smart"]
    assert all(t.claude_options.max_turns == 1 for t in step.steps)
    assert step.steps[0].claude_options.allowed_tools == ["Read", "Glob", "Grep"]


@pytest.mark.parametrize("tasks, message", [
    ("[]", "tasks"),
    ("[{task_id: empty}]", "a task needs a prompt, a file or both"),
])
def test_a_batch_without_something_to_ask_is_refused(tasks, message):
    with pytest.raises(WorkflowError, match=message):
        loads_workflow(f"workflow:\n  name: b\n  steps:\n    - name: b\n"
                       f"      type: claude_batch\n      tasks: {tasks}\n")


def test_a_shared_option_rillet_refuses_is_told_once_with_the_reason():
    with pytest.raises(WorkflowError) as info:
        loads_workflow("workflow:\n  name: b\n  steps:\n    - name: b\n"
                       "      type: claude_batch\n      claude_options: {pass_through_streaming: false}\n"
                       "      tasks: [{prompt: one}, {prompt: two}]\n", source="flow.yaml")
    message = str(info.value)
    assert message.count("claude_options.pass_through_streaming: can only be true") == 1
    assert "tasks[0]" not in message


def test_pipeline_ex_claude_options_of_a_batch_reach_every_task():
    workflow = loads_workflow(
        "workflow:\n  name: b\n  steps:\n    - name: b\n      type: claude_batch\n"
        "      claude_options: {output_format: json, verbose: true, max_turns: 2}\n"
        "      tasks: [{prompt: one}, {prompt: two}]\n")
    tasks = workflow.steps[0].steps
    assert [(t.output_format, t.verbose, t.claude_options.max_turns) for t in tasks] == \
        [("json", True, 2), ("json", True, 2)]


def test_a_tasks_own_claude_options_go_over_the_batchs():
    step, = loads_workflow(textwrap.dedent("""\
        workflow:
          name: batch
          steps:
            - name: b
              type: claude_batch
              claude_options: {max_turns: 1, output_format: text}
              tasks:
                - {prompt: one, claude_options: {max_turns: 3, output_format: json}}
                - {prompt: two}
        """)).steps
    first, second = step.steps
    assert (first.claude_options.max_turns, first.output_format) == (3, "json")
    assert (second.claude_options.max_turns, second.output_format) == (1, "text")


def test_a_tasks_unknown_option_is_told_at_the_task():
    with pytest.raises(WorkflowError, match=r"tasks\[0\]\.claude_options\.colour"):
        loads_workflow("workflow:\n  name: b\n  steps:\n    - name: b\n"
                       "      type: claude_batch\n"
                       "      tasks: [{prompt: one, claude_options: {colour: red}}]\n")


@pytest.mark.parametrize(("timeout_ms", "expected"), [(8000, 8.0), (90000, 60.0)])
def test_claude_options_timeout_ms_bounds_each_task_under_timeout_per_task(timeout_ms,
                                                                           expected):
    workflow = loads_workflow(
        "workflow:\n  name: b\n  steps:\n    - name: b\n      type: claude_batch\n"
        f"      claude_options: {{max_turns: 1, timeout_ms: {timeout_ms}}}\n"
        "      tasks: [{prompt: one}, {prompt: two}]\n")
    batch = workflow.steps[0]
    assert batch.timeout_s == timeout_ms / 1000
    assert [t.timeout_s for t in batch.steps] == [expected, expected]  # default 60000 ms
