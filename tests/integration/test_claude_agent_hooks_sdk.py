"""Built-in hooks (claude_options.hooks) through the real Agent SDK and its bundled CLI,
against the simulator: the model asks to run a Bash command; validate_bash refuses a
dangerous one before it runs, and the logging hooks report every call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rillet.events import ToolHook, ToolResult, ToolUse
from rillet.providers.base import ModelRequest
from rillet.providers.claude_agent import ClaudeAgentProvider
from rillet.sim.script import Script
from rillet.streaming.response import AsyncResponse

pytestmark = pytest.mark.sdk

MODEL = "claude-sonnet-4-5"
HOOKS = {"PreToolUse": [{"matcher": "Bash", "hooks": ["validate_bash", "log_tool_use"]},
                        {"matcher": "*", "hooks": ["audit_tool"]}],
         "PostToolUse": [{"matcher": "*", "hooks": ["log_tool_use"]}]}


def script(marker: Path) -> Script:
    return Script.model_validate({"rules": [
        {"match": "clean up", "text": "I could not clean up.", "timing": {"pattern": "fast"},
         "tool_use": {"name": "Bash", "input": {"command": f"rm -rf {marker}"}}},
        {"match": "say hello", "text": "It said hello.", "timing": {"pattern": "fast"},
         "tool_use": {"name": "Bash", "input": {"command": "echo hello-from-bash"}}},
    ]})


async def run(sim_factory: Any, tmp_path: Path, prompt: str) -> tuple[list[Any], Any]:
    marker = tmp_path / "keep-me"
    marker.mkdir(exist_ok=True)
    sim = await sim_factory(script(marker))
    provider = ClaudeAgentProvider(mode="sim", base_url=sim.base_url)
    try:
        request = ModelRequest(step="hooked", prompt=prompt, model=MODEL, mode="sim",
                               workspace_dir=str(tmp_path),
                               options={"allowed_tools": ["Bash"], "hooks": HOOKS})
        response = AsyncResponse("hooked", provider.stream(request))
        events = [e async for e in response]
        return events, response.result()
    finally:
        await provider.aclose()


async def test_validate_bash_refuses_a_dangerous_command_before_it_runs(sim_factory, tmp_path):
    events, result = await run(sim_factory, tmp_path, "clean up the folder")
    assert (tmp_path / "keep-me").is_dir()  # the command never ran
    hooks = [e for e in events if type(e) is ToolHook]
    denied = [e for e in hooks if e.decision == "deny"]
    assert [(e.hook, e.tool_name) for e in denied] == [("validate_bash", "Bash")]
    assert "dangerous pattern (rm -rf)" in denied[0].reason
    (tool_result,) = [e for e in events if type(e) is ToolResult]
    assert tool_result.is_error and "dangerous pattern (rm -rf)" in tool_result.content
    # The refusal came before the result, and the other PreToolUse hooks ran too.
    assert events.index(denied[0]) < events.index(tool_result)
    assert {e.hook for e in hooks} == {"validate_bash", "log_tool_use", "audit_tool"}
    assert result.text == "I could not clean up."


async def test_a_safe_command_runs_and_every_hook_reports_it(sim_factory, tmp_path):
    events, result = await run(sim_factory, tmp_path, "say hello")
    (tool_use,) = [e for e in events if type(e) is ToolUse]
    (tool_result,) = [e for e in events if type(e) is ToolResult]
    assert not tool_result.is_error and tool_result.content.strip() == "hello-from-bash"
    hooks = [(e.hook, e.hook_event, e.decision) for e in events if type(e) is ToolHook]
    assert sorted(hooks, key=str) == sorted([
        ("validate_bash", "PreToolUse", "no_objection"), ("log_tool_use", "PreToolUse", None),
        ("audit_tool", "PreToolUse", None), ("log_tool_use", "PostToolUse", None)], key=str)
    assert all(e.tool_use_id == tool_use.tool_use_id for e in events if type(e) is ToolHook)
    audit = next(e for e in events if type(e) is ToolHook and e.hook == "audit_tool")
    assert audit.input == {"command": "echo hello-from-bash"} and audit.at


def shape(events: list[Any]) -> list[tuple[Any, ...]]:
    """The events a hook adds or changes, in order: what mock and real must agree on."""
    found: list[tuple[Any, ...]] = []
    for e in events:
        if type(e) is ToolHook:
            found.append(("hook", e.hook, e.hook_event, e.decision, e.reason))
        elif type(e) is ToolUse:
            found.append(("use", e.name))
        elif type(e) is ToolResult and e.is_error:
            found.append(("result", e.is_error, e.content))
        elif type(e) is ToolResult:
            found.append(("result", e.is_error))
    return found


@pytest.mark.parametrize("prompt", ["clean up the folder", "say hello"])
async def test_the_mock_runs_the_hooks_as_the_cli_does(sim_factory, tmp_path, prompt):
    from rillet.providers.mock import MockProvider

    events, _ = await run(sim_factory, tmp_path, prompt)
    marker = tmp_path / "keep-me"
    request = ModelRequest(step="hooked", prompt=prompt, model=MODEL, mode="mock",
                           workspace_dir=str(tmp_path),
                           options={"allowed_tools": ["Bash"], "hooks": HOOKS})
    mock = MockProvider("claude_agent", script=script(marker))
    mocked = [e async for e in AsyncResponse("hooked", mock.stream(request))]
    assert shape(mocked) == shape(events)
