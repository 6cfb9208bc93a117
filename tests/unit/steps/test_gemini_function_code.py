"""Gemini functions with an implementation: named by dotted path like handlers, checked
and never imported when validating, refused by --no-code, run between the model's turns
(mock mode here; tests/integration/test_gemini_functions_sdk.py drives google-genai)."""

from __future__ import annotations

import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

import rillet
from rillet.errors import WorkflowError
from rillet.events import TextDelta, ToolResult, ToolUse
from rillet.sim.script import Script
from rillet.workflow.loader import load_workflow
from rillet.workflow.trust import CodeRefused, code_it_runs

WEATHER_PY = """\
import threading

MAIN = threading.main_thread()
calls = []


def get_weather(city):
    calls.append((city, threading.current_thread() is MAIN))
    if city == "Atlantis":
        raise LookupError("no station in " + city)
    return {"city": city, "celsius": 14}


async def get_tide(port):
    return "high at noon in " + port
"""


def flow_text(module: str, steps: str | None = None) -> str:
    return textwrap.dedent(f"""\
        workflow:
          name: fc
          gemini_functions:
            get_weather:
              description: Weather in a city
              parameters:
                type: object
                properties: {{city: {{type: string}}}}
              implementation: "{module}:get_weather"
            get_tide:
              parameters:
                type: object
                properties: {{port: {{type: string}}}}
              implementation: "{module}:get_tide"
            rate:
              parameters:
                type: object
                properties: {{score: {{type: integer}}}}
          steps:
        """) + textwrap.indent(textwrap.dedent(steps or """\
        - name: ask
          type: gemini
          functions: [get_weather, get_tide]
          prompt: "weather and tide for the trip"
        """), "    ")


RULES = [
    {"match": "weather and tide", "timing": {"pattern": "fast"},
     "function_calls": [{"name": "get_weather", "input": {"city": "Paris"}},
                        {"name": "get_tide", "input": {"port": "Brest"}}],
     "text": "Mild in Paris; high tide at noon."},
    {"match": "atlantis", "timing": {"pattern": "fast"},
     "tool_use": {"name": "get_weather", "input": {"city": "Atlantis"}},
     "text": "There is no weather there."},
    {"match": "forever", "timing": {"pattern": "fast"}, "function_rounds": 9,
     "tool_use": {"name": "get_weather", "input": {"city": "Rome"}}, "text": "never"},
    {"match": "rate it", "timing": {"pattern": "fast"},
     "tool_use": {"name": "rate", "input": {"score": 7}}},
]


class Events:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)


@pytest.fixture
def module() -> str:
    """A module name no other test has imported (user code is imported once a process)."""
    return f"trip_tools_{uuid.uuid4().hex[:8]}"


def write_flow(folder: Path, module: str, steps: str | None = None) -> Path:
    (folder / f"{module}.py").write_text(WEATHER_PY)
    path = folder / "flow.yaml"
    path.write_text(flow_text(module, steps))
    return path


async def run(path: Path, tmp_path: Path, **options: Any) -> tuple[Any, list[Any]]:
    events = Events()
    result = await rillet.run_async(path, mode="mock", script=Script.model_validate(
        {"rules": RULES}), output_dir=tmp_path / "out", workspace_dir=tmp_path / "ws",
        listeners=[events], **options)
    return result, events.events


async def test_parallel_calls_run_their_functions_and_the_answer_follows(tmp_path, module):
    result, events = await run(write_flow(tmp_path, module), tmp_path)

    assert result.success, result.error
    kinds = [type(e).__name__ for e in events if type(e) in (ToolUse, ToolResult, TextDelta)]
    assert kinds[:4] == ["ToolUse", "ToolUse", "ToolResult", "ToolResult"]
    results = [(e.content, e.is_error) for e in events if type(e) is ToolResult]
    assert results == [('{"city": "Paris", "celsius": 14}', False),
                       ("high at noon in Brest", False)]
    step = result["ask"]
    assert step.text == "Mild in Paris; high tide at noon." and step.num_turns == 2
    assert [(u["name"], u["result"]) for u in step.tool_uses] == [
        ("get_weather", '{"city": "Paris", "celsius": 14}'),
        ("get_tide", "high at noon in Brest")]
    import sys
    # The sync function ran in a worker thread, not on the event loop's.
    assert sys.modules[module].calls == [("Paris", False)]


async def test_a_function_that_raises_is_an_error_result_not_a_failed_step(tmp_path, module):
    steps = """\
        - name: ask
          type: gemini
          functions: [get_weather]
          prompt: "weather in atlantis"
        """
    result, events = await run(write_flow(tmp_path, module, steps), tmp_path)
    assert result.success, result.error
    [error] = [e for e in events if type(e) is ToolResult]
    assert error.is_error and error.content == "LookupError: no station in Atlantis"
    assert result["ask"].text == "There is no weather there."


async def test_past_max_function_rounds_the_step_fails_and_keeps_what_came(tmp_path, module):
    steps = """\
        - name: ask
          type: gemini
          functions: [get_weather]
          max_function_rounds: 2
          prompt: "call it forever"
        """
    result, events = await run(write_flow(tmp_path, module, steps), tmp_path)
    assert result.status == "failed"
    assert "after 2 rounds of function calls (max_function_rounds: 2)" in result.error
    assert sum(type(e) is ToolResult for e in events) == 2
    assert len(result["ask"].tool_uses) == 3  # the third round's call is on the record


async def test_a_call_without_implementation_ends_the_step_with_its_arguments(tmp_path,
                                                                            module):
    steps = """\
        - name: review
          type: gemini
          functions: [rate, get_weather]
          prompt: "rate it please"
        - name: use
          type: gemini
          prompt:
            - type: previous_response
              step: review
              extract: score
        """
    result, events = await run(write_flow(tmp_path, module, steps), tmp_path)
    assert result.success, result.error
    assert result["review"].output == {"score": 7}  # pipeline_ex: the call's arguments
    assert not any(type(e) is ToolResult for e in events)
    assert result["review"].num_turns == 1


def test_validating_imports_nothing_and_finds_a_missing_function(tmp_path, module):
    marker = tmp_path / "imported.txt"
    (tmp_path / f"{module}.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "def get_weather(city): return city\n")
    path = tmp_path / "flow.yaml"
    path.write_text(flow_text(module).replace(f"{module}:get_tide", f"{module}:nowhere"))
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    assert not marker.exists()
    assert "flow.yaml:14: gemini_functions.get_tide.implementation" in str(info.value)
    assert "defines no 'nowhere'" in str(info.value)
    path.write_text(flow_text(module).replace(f"{module}:get_tide", f"{module}:get_weather"))
    load_workflow(path)
    assert not marker.exists()


async def test_no_code_refuses_a_workflow_with_an_implementation(tmp_path, module):
    path = write_flow(tmp_path, module)
    found = code_it_runs(load_workflow(path))
    assert f"gemini_functions.get_weather.implementation: '{module}:get_weather' (a " \
           f"function the model's calls run)" in found
    with pytest.raises(CodeRefused, match="get_tide.implementation"):
        await run(path, tmp_path, allow_code=False)


def test_max_function_rounds_without_functions_is_refused(tmp_path, module):
    steps = """\
        - name: ask
          type: gemini
          max_function_rounds: 3
          prompt: "hi"
        """
    with pytest.raises(WorkflowError, match="max_function_rounds bounds the rounds of "
                                            "function calls, and this step lists no functions"):
        load_workflow(write_flow(tmp_path, module, steps))


NESTED = """\
workflow:
  name: inner
  gemini_functions:
    get_weather:
      parameters: {{type: object, properties: {{city: {{type: string}}}}}}
      implementation: "{module}:get_weather"
  steps:
    - name: ask
      type: gemini
      functions: [get_weather]
      prompt: "weather in atlantis"
"""


def nested_flow(tmp_path: Path, module: str) -> Path:
    """A parent without functions running a pipeline file, in its own folder, whose gemini
    step calls a function that file declares, implemented by a module beside it."""
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / f"{module}.py").write_text(WEATHER_PY)
    (inner / "inner.yaml").write_text(NESTED.format(module=module))
    path = tmp_path / "outer.yaml"
    path.write_text(textwrap.dedent("""\
        workflow:
          name: outer
          steps:
            - name: sub
              type: pipeline
              pipeline_file: inner/inner.yaml
        """))
    return path


async def test_a_nested_pipeline_calls_its_own_functions(tmp_path, module):
    result, events = await run(nested_flow(tmp_path, module), tmp_path)
    assert result.success, result.error
    [error] = [e for e in events if type(e) is ToolResult]
    assert error.step == "sub.ask" and error.content == "LookupError: no station in Atlantis"


async def test_no_code_refuses_the_code_a_nested_pipeline_file_names(tmp_path, module):
    result, events = await run(nested_flow(tmp_path, module), tmp_path, allow_code=False)
    assert result.status == "failed"
    assert f"--no-code: '{module}:get_weather' names code" in result.error
    import sys
    assert module not in sys.modules


def test_max_function_rounds_with_no_function_to_run_is_refused(tmp_path, module):
    steps = """\
        - name: ask
          type: gemini
          functions: [rate]
          max_function_rounds: 3
          prompt: "rate it"
        """
    with pytest.raises(WorkflowError, match=r"steps\[0\].max_function_rounds: "
                                            r"max_function_rounds bounds the rounds of "
                                            r"functions rillet runs, and none of this "
                                            r"step's functions has an implementation"):
        load_workflow(write_flow(tmp_path, module, steps))


def test_no_code_sees_an_implementation_in_an_inline_nested_pipeline(tmp_path, module):
    (tmp_path / f"{module}.py").write_text(WEATHER_PY)
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(f"""\
        workflow:
          name: outer
          steps:
            - name: sub
              type: pipeline
              pipeline:
                name: inner
                gemini_functions:
                  get_weather:
                    implementation: "{module}:get_weather"
                steps:
                  - name: ask
                    type: gemini
                    functions: [get_weather]
                    prompt: "weather in atlantis"
        """))
    assert code_it_runs(load_workflow(path)) == [
        f"steps[0](sub).pipeline(inner).gemini_functions.get_weather.implementation: "
        f"'{module}:get_weather' (a function the model's calls run)"]
