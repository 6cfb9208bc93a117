"""memory_config and enable_context_management through the real Agent SDK and its bundled
CLI, against the simulator: the CLI's own report (get_context_usage) and what it sends
show that each key does what it says."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from claude_agent_sdk import ClaudeSDKClient, SystemMessage

from rillet.providers.base import ModelRequest
from rillet.providers.claude_agent.options import build_options, cli_env
from rillet.providers.claude_agent.provider import shutdown_cli
from rillet.workflow.loader import loads_workflow

pytestmark = pytest.mark.sdk


def client_for(options: dict[str, Any], sim: Any, tmp_path: Path) -> ClaudeSDKClient:
    """A CLI started with the options rillet gives a step (as the provider starts it)."""
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    request = ModelRequest(step="s", prompt="", model="claude-sonnet-4-5", mode="sim",
                           workspace_dir=str(workspace), options=options)
    env = cli_env(request, sim_home=str(home), base_url=sim.base_url)
    return ClaudeSDKClient(build_options(request, env=env))


async def usage(options: dict[str, Any], sim: Any, tmp_path: Path) -> dict[str, Any]:
    client = client_for(options, sim, tmp_path)
    await client.connect()
    try:
        return dict(await client.get_context_usage())
    finally:
        await shutdown_cli(client, interrupt=False)


def step_options(workflow_keys: str) -> dict[str, Any]:
    """The claude_options rillet gives a step of a workflow with these keys."""
    wf = loads_workflow(textwrap.dedent(f"""
        workflow:
          name: t
        {textwrap.indent(textwrap.dedent(workflow_keys), '  ')}
          steps:
            - {{name: a, type: claude, prompt: x}}
    """))
    return wf.steps[0].claude_options.model_dump(exclude_none=True)


async def test_memory_config_sets_the_clis_compaction_window_and_switch(sim_factory, tmp_path):
    sim = await sim_factory()
    window = await usage(step_options("memory_config: {max_context_length: 150000}"),
                         sim, tmp_path)
    assert window["maxTokens"] == 150000 and window["isAutoCompactEnabled"] is True
    off = await usage(step_options("memory_config: {auto_compact: false}"), sim, tmp_path)
    assert off["isAutoCompactEnabled"] is False and off["maxTokens"] == 200000


async def test_auto_compact_true_turns_it_on_when_the_environment_turned_it_off(
        sim_factory, tmp_path, monkeypatch):
    sim = await sim_factory()
    monkeypatch.setenv("DISABLE_AUTO_COMPACT", "1")
    monkeypatch.setenv("DISABLE_COMPACT", "1")
    assert (await usage({}, sim, tmp_path))["isAutoCompactEnabled"] is False
    on = await usage(step_options("memory_config: {auto_compact: true}"), sim, tmp_path)
    assert on["isAutoCompactEnabled"] is True


async def compactions(options: dict[str, Any], sim: Any, tmp_path: Path) -> list[Any]:
    """The CLI's automatic compactions over three prompts of one conversation."""
    client = client_for(options, sim, tmp_path)
    found = []
    await client.connect()
    try:
        for prompt in ("tell me about rivers", "and about lakes", "and about seas"):
            await client.query(prompt)
            async for message in client.receive_response():
                if isinstance(message, SystemMessage) and message.subtype == "compact_boundary":
                    found.append(message.data["compact_metadata"]["trigger"])
    finally:
        await shutdown_cli(client, interrupt=False)
    return found


async def test_compact_threshold_makes_the_cli_compact_once_the_conversation_reaches_it(
        sim_factory, tmp_path):
    sim = await sim_factory()
    # The CLI's own context is ~2.5k tokens: a threshold of 1000 is passed by the second turn.
    low = step_options("memory_config: {max_context_length: 100000, compact_threshold: 1000}")
    assert await compactions(low, sim, tmp_path) == ["auto"]
    assert await compactions({}, sim, tmp_path) == []


@pytest.mark.parametrize(("setting", "reads_claude_md"), [("true", True), ("false", False)])
async def test_context_management_decides_whether_the_cli_reads_claude_md(
        sim_factory, tmp_path, setting, reads_claude_md):
    sim = await sim_factory()
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "CLAUDE.md").write_text("# Notes\nThe river project uses rillet.\n")
    report = await usage(step_options(f"enable_context_management: {setting}"), sim, tmp_path)
    files = [Path(m["path"]).name for m in report["memoryFiles"]]
    assert files == (["CLAUDE.md"] if reads_claude_md else [])
