"""claude_options → ClaudeAgentOptions, and the CLI's environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from claude_agent_sdk._internal.transport.subprocess_cli import SubprocessCLITransport

from rillet.errors import ProviderError
from rillet.providers.base import ModelRequest
from rillet.providers.claude_agent.options import (
    MAPPED_KEYS, OTHER_BACKENDS, QUIET_ENV, build_options, cli_env,
)

# The keys the brief for `claude_options` lists; each must reach the SDK.
DOCUMENTED_KEYS = {
    "max_turns", "allowed_tools", "disallowed_tools", "tools", "system_prompt",
    "append_system_prompt", "model", "fallback_model", "cwd", "permission_mode", "mcp_servers",
    "strict_mcp_config", "session_id", "resume", "fork_session", "continue_conversation",
    "add_dirs", "max_budget_usd", "max_thinking_tokens", "thinking", "effort", "env",
    "settings", "setting_sources", "betas",
}


def request(options: dict[str, Any] | None = None, *, mode: str = "live",
            workspace: Path | None = None, **kw: Any) -> ModelRequest:
    return ModelRequest(step="plan", prompt="hi", options=options or {},
                        mode=mode,  # type: ignore[arg-type]
                        workspace_dir=str(workspace) if workspace else None, **kw)


def options_for(options: dict[str, Any], **kw: Any):
    req = request(options, **kw)
    return build_options(req, env=cli_env(req, sim_home="/tmp/h", base_url="http://sim"))


def cli_command(options) -> list[str]:
    transport = SubprocessCLITransport(prompt="", options=options)
    transport._cli_path = "claude"  # no process is started: only the argv is built
    return transport._build_command()


def test_every_documented_key_has_a_mapping():
    assert DOCUMENTED_KEYS <= MAPPED_KEYS


def test_every_claude_options_schema_key_has_a_mapping():
    from rillet.workflow import schema
    from rillet.steps.claude import _ENGINE_KEYS  # keys the engine honours itself

    fields = set(schema.ClaudeOptions.model_fields)
    assert fields - MAPPED_KEYS - _ENGINE_KEYS == set()


def test_unknown_key_is_an_error_naming_it():
    with pytest.raises(ProviderError) as info:
        options_for({"max_turnz": 3})
    assert info.value.kind == "invalid_request"
    assert "claude_options.max_turnz" in str(info.value) and "'plan'" in str(info.value)


@pytest.mark.parametrize(("options", "flags"), [
    ({"max_turns": 3}, ["--max-turns", "3"]),
    ({"allowed_tools": ["Read", "Bash"]}, ["--allowedTools", "Read,Bash"]),
    ({"disallowed_tools": ["Write"]}, ["--disallowedTools", "Write"]),
    ({"tools": ["Read"]}, ["--tools", "Read"]),
    ({"tools": "claude_code"}, ["--tools", "default"]),
    ({"model": "claude-opus-4-1"}, ["--model", "claude-opus-4-1"]),
    ({"fallback_model": "claude-haiku-4-5"}, ["--fallback-model", "claude-haiku-4-5"]),
    ({"permission_mode": "acceptEdits"}, ["--permission-mode", "acceptEdits"]),
    ({"mcp_servers": {"fs": {"command": "mcp-fs"}}},
     ["--mcp-config", json.dumps({"mcpServers": {"fs": {"command": "mcp-fs"}}})]),
    ({"strict_mcp_config": True}, ["--strict-mcp-config"]),
    ({"session_id": "0b9e3c2e-1111-4222-8333-444455556666"},
     ["--session-id=0b9e3c2e-1111-4222-8333-444455556666"]),
    ({"resume": "abc"}, ["--resume=abc"]),
    ({"resume": "abc", "fork_session": True}, ["--fork-session"]),
    ({"continue_conversation": True}, ["--continue"]),
    ({"add_dirs": ["/data"]}, ["--add-dir", "/data"]),
    ({"max_budget_usd": 0.5}, ["--max-budget-usd", "0.5"]),
    ({"max_thinking_tokens": 2048}, ["--max-thinking-tokens", "2048"]),
    ({"thinking": {"type": "enabled", "budget_tokens": 1024}},
     ["--max-thinking-tokens", "1024"]),
    ({"thinking": {"type": "adaptive"}}, ["--thinking", "adaptive"]),
    ({"effort": "low"}, ["--effort", "low"]),
    ({"settings": {"theme": "dark"}}, ["--settings", '{"theme": "dark"}']),
    ({"settings": "/etc/claude.json"}, ["--settings", "/etc/claude.json"]),
    ({"setting_sources": ["project"]}, ["--setting-sources=project"]),
    ({"betas": ["context-1m-2025-08-07"]}, ["--betas", "context-1m-2025-08-07"]),
    ({"system_prompt": "Be terse."}, ["--system-prompt", "Be terse."]),
    ({"append_system_prompt": "Cite files."}, ["--append-system-prompt", "Cite files."]),
])
def test_option_reaches_the_cli_command_line(options, flags):
    command = cli_command(options_for(options))
    start = command.index(flags[0])
    assert command[start:start + len(flags)] == flags


def test_partial_messages_are_always_requested():
    assert "--include-partial-messages" in cli_command(options_for({}))


def test_system_prompt_and_append_are_both_kept():
    opts = options_for({"append_system_prompt": "Cite files."}, system_prompt="Be terse.")
    assert opts.system_prompt == "Be terse.\n\nCite files."


def test_request_model_wins_over_the_options_model():
    assert options_for({"model": "a"}, model="b").model == "b"


def test_relative_paths_resolve_against_the_workspace(tmp_path):
    (tmp_path / "repo").mkdir()
    opts = options_for({"cwd": "repo", "add_dirs": ["../shared", "/abs"]}, workspace=tmp_path)
    assert opts.cwd == str(tmp_path / "repo")
    assert opts.add_dirs == [str(tmp_path / "../shared"), "/abs"]


def test_cwd_defaults_to_the_workspace(tmp_path):
    assert options_for({}, workspace=tmp_path).cwd == str(tmp_path)


def test_missing_cwd_is_an_error_before_the_cli_starts(tmp_path):
    with pytest.raises(ProviderError, match="claude_options.cwd .* is not a directory"):
        options_for({"cwd": "nope"}, workspace=tmp_path)


@pytest.mark.parametrize(("options", "key"), [
    ({"permission_mode": "yolo"}, "permission_mode"),
    ({"effort": "huge"}, "effort"),
    ({"thinking": {"type": "enabled"}}, "thinking"),
    ({"thinking": "on"}, "thinking"),
    ({"tools": "everything"}, "tools"),
    ({"allowed_tools": "Bash"}, "allowed_tools"),
    ({"setting_sources": ["global"]}, "setting_sources"),
    ({"mcp_servers": {"py": {"type": "sdk", "name": "py"}}}, "mcp_servers.py"),
    ({"mcp_servers": 3}, "mcp_servers"),
    ({"resume": "a", "continue_conversation": True}, "continue_conversation"),
    ({"resume": "a", "session_id": "b"}, "session_id"),
    ({"fork_session": True}, "fork_session"),
])
def test_options_the_sdk_cannot_honour_are_errors(options, key):
    with pytest.raises(ProviderError) as info:
        options_for(options)
    assert info.value.kind == "invalid_request" and f"claude_options.{key} " in str(info.value)


def test_resume_cannot_be_honoured_in_sim_mode():
    with pytest.raises(ProviderError, match="sim mode"):
        options_for({"resume": "abc"}, mode="sim")


def test_sim_mode_points_the_cli_at_the_simulator_with_a_private_home():
    opts = options_for({"env": {"ANTHROPIC_BASE_URL": "https://api.anthropic.com",
                                "CLAUDE_CODE_MAX_RETRIES": "2"}}, mode="sim",
                       base_url="http://127.0.0.1:9999")
    assert opts.env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9999"  # the step cannot escape
    assert opts.env["ANTHROPIC_API_KEY"] == "sim"
    assert opts.env["HOME"] == "/tmp/h"
    assert opts.env["CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK"] == "1"
    assert opts.env["CLAUDE_CODE_MAX_RETRIES"] == "2"
    # A user's Bedrock/Vertex/… switch would send the CLI past the simulator to a cloud.
    assert {opts.env[name] for name in OTHER_BACKENDS} == {""}
    assert QUIET_ENV.items() <= opts.env.items()
    assert opts.extra_args == {"no-session-persistence": None}


def test_sim_mode_without_a_simulator_url_is_an_error():
    req = request(mode="sim")
    with pytest.raises(ProviderError, match="no simulator URL"):
        cli_env(req, sim_home="/tmp/h", base_url=None)


def test_live_mode_keeps_the_users_home_and_login():
    opts = options_for({}, mode="live")
    assert opts.env == QUIET_ENV
    assert opts.extra_args == {}
