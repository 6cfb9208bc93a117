"""The Claude family step types run as leaves of the tree: inside a parallel or a for_loop,
under their path labels, with the defaults (a preset) reaching them there."""

from __future__ import annotations

import textwrap

import rillet
from rillet.events import PartialOutput, StepCompleted
from rillet.sim.script import Script
from rillet.workflow.loader import loads_workflow

FLOW = textwrap.dedent("""\
    workflow:
      name: family-tree
      defaults: {claude_preset: test}
      steps:
        - name: fan
          type: parallel
          steps:
            - {name: smart, type: claude_smart, prompt: "say hi"}
            - name: extract
              type: claude_extract
              prompt: "Extract the findings"
              extraction_config: {format: markdown}
        - name: each
          type: for_loop
          data_source: [a, b]
          steps:
            - name: verdict
              type: gemini_instructor
              prompt: "Judge {{ loop.item }}"
              output_schema:
                type: object
                properties: {ok: {type: boolean}}
                required: [ok]
    """)


class Events:
    def __init__(self):
        self.events = []

    def on_event(self, event):
        self.events.append(event)


def test_the_preset_of_the_defaults_reaches_a_claude_smart_inside_a_container():
    fan = loads_workflow(FLOW).steps[0]
    smart = fan.steps[0]
    assert smart.preset == "test"
    assert smart.claude_options.model_dump(exclude_none=True)["max_turns"] == 3


async def test_family_steps_run_inside_parallel_and_for_loop_under_their_paths(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    script = Script.model_validate({"rules": [
        {"match": "findings", "output": {"content": "Two locks."},
         "timing": {"pattern": "fast"}},
        {"match": "Judge", "output": {"ok": True}, "timing": {"pattern": "fast"}}]})
    events = Events()
    result = await rillet.run_async(path, mode="mock", script=script, listeners=[events],
                                    output_dir=tmp_path / "o", workspace_dir=tmp_path / "w")

    assert result.success, result.error
    fan = result["fan"].children
    assert fan["extract"].text == "# Extracted Content\n\nTwo locks."  # finish_result ran
    assert fan["smart"].success
    iterations = result["each"].children
    assert [it["verdict"].output for it in iterations] == [{"ok": True}, {"ok": True}]
    completed = {e.step for e in events.events if type(e) is StepCompleted}
    assert {"fan.smart", "fan.extract", "each[0].verdict", "each[1].verdict"} <= completed
    partial_steps = {e.step for e in events.events if type(e) is PartialOutput}
    assert {"each[0].verdict", "each[1].verdict"} <= partial_steps


def test_a_function_no_gemini_functions_declare_is_refused_inside_a_container_too():
    import pytest

    from rillet.errors import WorkflowError

    text = textwrap.dedent("""\
        workflow:
          name: fn
          steps:
            - name: fan
              type: parallel
              steps:
                - {name: ask, type: gemini, prompt: go, functions: [lookup]}
        """)
    with pytest.raises(WorkflowError, match="step 'ask': function 'lookup' is not in "
                                            "gemini_functions"):
        loads_workflow(text)
