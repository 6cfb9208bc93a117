"""Gemini function calling (functions, workflow-level gemini_functions) and
gemini_instructor: declared functions, the model's calls streamed as ToolUse events."""

from __future__ import annotations

import textwrap

import pytest

import rillet
from rillet.errors import WorkflowError
from rillet.events import ToolUse
from rillet.providers.base import ModelRequest
from rillet.providers.gemini.provider import config_params
from rillet.sim.script import Script
from rillet.workflow.loader import loads_workflow

FLOW = """\
workflow:
  name: fn
  gemini_functions:
    analyze_code:
      description: Analyze code for quality and issues
      parameters:
        type: object
        properties:
          quality_score: {type: integer, minimum: 1, maximum: 10}
          issues: {type: array, items: {type: string}}
        required: [quality_score, issues]
  steps:
    - name: review
      type: gemini_instructor
      functions: [analyze_code]
      prompt: "Review this code and call analyze_code: def f(x): return x[0]"
"""


class Events:
    def __init__(self) -> None:
        self.events: list = []

    def on_event(self, event) -> None:
        self.events.append(event)


def test_declared_functions_go_to_gemini_as_declarations_it_may_not_run_itself():
    request = ModelRequest(step="s", prompt="p", functions=[
        {"name": "analyze_code", "description": "d", "parameters": {"type": "object"}}])
    config = config_params(request)
    assert config["tools"] == [{"function_declarations": [
        {"name": "analyze_code", "description": "d",
         "parameters_json_schema": {"type": "object"}}]}]
    assert config["automatic_function_calling"] == {"disable": True}


@pytest.mark.parametrize("scripted", [None, {"quality_score": 3, "issues": ["x[0] on []"]}])
async def test_the_models_call_streams_as_a_tool_use_with_its_arguments(scripted, tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    rule = {"match": "analyze_code", "timing": {"pattern": "fast"}}
    if scripted:
        rule["output"] = scripted
    events = Events()
    result = await rillet.run_async(path, mode="mock", script=Script.model_validate(
        {"rules": [rule]}), output_dir=tmp_path / "o", workspace_dir=tmp_path / "w",
        listeners=[events])

    assert result.success, result.error
    uses = [e for e in events.events if type(e) is ToolUse]
    assert [u.name for u in uses] == ["analyze_code"]
    args = uses[0].input
    if scripted:
        assert args == scripted
    else:  # generated from the declared parameters
        assert 1 <= args["quality_score"] <= 10 and isinstance(args["issues"], list)
    assert result["review"].tool_uses[0]["input"] == args


def test_a_function_that_is_not_declared_is_refused():
    text = FLOW.replace("functions: [analyze_code]", "functions: [validate_config]")
    with pytest.raises(WorkflowError, match=r"flow.yaml:15: steps\[0\].functions: function "
                                            r"'validate_config' is not in gemini_functions "
                                            r"\(analyze_code\)"):
        loads_workflow(text, "flow.yaml")


def test_function_parameters_must_be_a_json_schema_object():
    text = textwrap.dedent(FLOW).replace("type: object\n        properties:",
                                         "type: string\n        properties:", 1)
    with pytest.raises(WorkflowError, match="root of output_schema must be an object"):
        loads_workflow(text)
