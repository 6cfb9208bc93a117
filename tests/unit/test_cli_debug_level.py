"""`workflow.environment.debug_level` as `rillet run` shows it, and `rillet validate`'s
notes for keys accepted although they change nothing."""

from __future__ import annotations

import textwrap

import pytest
from typer.testing import CliRunner

from rillet.cli import app

runner = CliRunner()
LONG = "echo " + "river " * 40  # longer than the console's usual 100-character preview

FLOW = """
workflow:
  name: detail
  environment: {{mode: development, debug_level: {level}}}
  defaults: {{output_dir: {out}}}
  steps:
    - name: plan
      type: claude
      prompt: "Plan it"
      mock:
        text: "Planned."
        thinking: "Weigh the river first."
        tool_use: {{name: Bash, input: {{command: "{long}"}}}}
        timing: {{pattern: fast}}
    - name: quiet
      type: claude
      verbose: false
      prompt: "Say it"
      mock: {{text: "Said.", thinking: "Hidden thought.", timing: {{pattern: fast}}}}
"""


def run(tmp_path, level: str):
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(FLOW.format(level=level, out=tmp_path / "out",
                                                long=LONG.strip())))
    result = runner.invoke(app, ["run", str(flow), "--mode", "mock",
                                 "--workspace-dir", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    return result.output


def test_basic_shows_the_text_without_tool_calls_or_thinking(tmp_path):
    out = run(tmp_path, "basic")
    assert "Planned." in out and "⚙ Bash" not in out and "Weigh the river" not in out
    assert "performance (each step" not in out


def test_detailed_shows_tool_calls_and_thinking_whole(tmp_path):
    out = run(tmp_path, "detailed")
    assert "Weigh the river first." in out
    assert LONG.strip() in out  # the whole input, not a 100-character preview
    assert "Hidden thought." not in out  # a step's own verbose wins
    assert "performance (each step" not in out


def test_performance_adds_each_steps_figures_to_the_summary(tmp_path):
    out = run(tmp_path, "performance")
    summary = out.split("performance (each step, as it finished):", 1)[1]
    lines = [line.split() for line in summary.strip().splitlines()[:2]]
    assert [line[0] for line in lines] == ["plan", "quiet"]
    assert all("TTFT" in line and "tok/s" in line for line in lines)


def test_an_unknown_debug_level_is_refused(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(FLOW.format(level="verbose", out=tmp_path, long="x")))
    result = runner.invoke(app, ["validate", str(flow)])
    assert result.exit_code != 0
    assert "environment.debug_level: Input should be 'basic', 'detailed' or 'performance'" \
        in result.output


@pytest.mark.parametrize("value", ["false", "true"])
def test_validate_prints_a_note_for_print_false_only(tmp_path, value):
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(f"""
        workflow:
          name: printing
          steps:
            - {{name: a, type: claude, prompt: x, claude_options: {{print: {value}}}}}
    """))
    result = runner.invoke(app, ["validate", str(flow)])
    assert result.exit_code == 0, result.output
    noted = "note: " in result.output
    assert noted is (value == "false")
    if noted:
        assert "steps[0].claude_options.print: print: false changes nothing" in result.output
