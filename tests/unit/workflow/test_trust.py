"""`--no-code`: a workflow from elsewhere runs without any code it names, or not at all."""

from __future__ import annotations

import textwrap

import pytest
from typer.testing import CliRunner

import rillet
from rillet.cli import app
from rillet.workflow.trust import CodeRefused, code_it_runs

CODE_FLOW = """
workflow:
  name: names-code
  defaults:
    claude_options:
      mcp_servers: {tools: {command: "./server.sh"}}
  steps:
    - name: say
      type: claude
      stream_handler: [console, callback, "my_hooks:Tally"]
      stream_handler_opts:
        callback: {function: "my_hooks:on_event"}
      claude_options:
        settings: {hooks: {PreToolUse: [{hooks: [{type: command, command: "touch x"}]}]}}
        allowed_tools: ["Bash(rm:*)", Read]
        permission_mode: bypassPermissions
        env: {NODE_OPTIONS: "--require ./evil.js"}
      prompt: "hello"
      mock: {text: "hi", timing: {pattern: fast}}
"""

PLAIN_FLOW = """
workflow:
  name: plain
  steps:
    - name: say
      type: claude
      stream_handler: [console, file]
      stream_handler_opts: {file: {path: say.txt}}
      claude_options: {allowed_tools: [Read]}
      prompt: "hello"
      mock: {text: "hi", timing: {pattern: fast}}
"""


def _write(tmp_path, body):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    (tmp_path / "my_hooks.py").write_text(
        "def on_event(event):\n    pass\n\nclass Tally:\n    pass\n")
    return path


def test_every_code_bearing_key_is_named(tmp_path):
    found = code_it_runs(rillet.load_workflow(_write(tmp_path, CODE_FLOW)))
    text = "\n".join(found)
    for key in ("'callback'", "'my_hooks:Tally'", "mcp_servers", "settings", "env",
                "'Bash(rm:*)'", "bypassPermissions"):
        assert key in text, text
    assert "steps[0](say)" in text


def test_a_workflow_without_code_names_none(tmp_path):
    assert code_it_runs(rillet.load_workflow(_write(tmp_path, PLAIN_FLOW))) == []


def test_run_no_code_refuses_with_one_message_and_exit_2(tmp_path):
    flow = _write(tmp_path, CODE_FLOW)
    out = CliRunner().invoke(app, ["run", str(flow), "--no-code", "--mode", "mock",
                                   "--output-dir", str(tmp_path / "out")])
    assert out.exit_code == 2, out.output
    assert "--no-code" in out.output and "my_hooks:Tally" in out.output
    assert "Traceback" not in out.output
    assert not (tmp_path / "out").exists()


def test_run_no_code_runs_a_workflow_without_code(tmp_path):
    flow = _write(tmp_path, PLAIN_FLOW)
    out = CliRunner().invoke(app, ["run", str(flow), "--no-code", "--mode", "mock", "-q",
                                   "--output-dir", str(tmp_path / "out"),
                                   "--workspace-dir", str(tmp_path / "ws")])
    assert out.exit_code == 0, out.output


def test_the_api_refuses_too(tmp_path):
    with pytest.raises(CodeRefused, match="my_hooks:on_event|callback"):
        rillet.run(_write(tmp_path, CODE_FLOW), mode="mock", allow_code=False,
                   output_dir=tmp_path / "out")
