"""The `rillet` command as a user runs it."""

from __future__ import annotations

import json
import textwrap

from typer.testing import CliRunner


from rillet import __version__
from rillet.cli import app

runner = CliRunner()

FLOW = """
workflow:
  name: cli-flow
  defaults:
    output_dir: {out}
  steps:
    - name: hello
      type: claude
      prompt: "Say hello"
      mock: {{text: "Hello from the mock", timing: {{pattern: fast}}}}
"""


def write(tmp_path, body):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def test_version_prints_the_package_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"rillet {__version__}"


def test_run_streams_text_and_writes_results_under_the_defaults_output_dir(tmp_path):
    out = tmp_path / "from-defaults"
    flow = write(tmp_path, FLOW.format(out=out))
    result = runner.invoke(app, ["run", str(flow), "--mode", "mock",
                                 "--workspace-dir", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert "Hello from the mock" in result.output
    assert "cli-flow" in result.output
    results = list(out.glob("*/results.json"))
    assert len(results) == 1
    assert json.loads(results[0].read_text())["steps"]["hello"]["text"] == "Hello from the mock"


def test_run_json_prints_one_event_per_line(tmp_path):
    flow = write(tmp_path, FLOW.format(out=tmp_path / "o"))
    result = runner.invoke(app, ["run", str(flow), "--mode", "mock", "--json",
                                 "--workspace-dir", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "PipelineStarted" and kinds[-1] == "PipelineCompleted"
    assert "".join(e["text"] for e in events if e["type"] == "TextDelta") == "Hello from the mock"


def test_run_exits_non_zero_when_a_step_fails(tmp_path):
    flow = write(tmp_path, FLOW.format(out=tmp_path / "o").replace(
        "timing: {pattern: fast}", "timing: {pattern: fast}, fault: {kind: drop, after_deltas: 1}"))
    result = runner.invoke(app, ["run", str(flow), "--mode", "mock",
                                 "--workspace-dir", str(tmp_path / "ws")])
    assert result.exit_code == 1
    assert "hello" in result.output and "kept in" in result.output


def test_invalid_workflow_names_file_line_and_key(tmp_path):
    flow = write(tmp_path, """
    workflow:
      name: bad
      steps:
        - name: s
          type: claude
          prompt: "x"
          stream_handlr: console
    """)
    result = runner.invoke(app, ["validate", str(flow)])
    assert result.exit_code == 2
    assert f"{flow}:8" in result.output and "stream_handlr" in result.output
    assert "stream_handler" in result.output  # the did-you-mean


def test_validate_accepts_a_good_workflow(tmp_path):
    flow = write(tmp_path, FLOW.format(out=tmp_path / "o"))
    result = runner.invoke(app, ["validate", str(flow)])
    assert result.exit_code == 0 and "1 step" in result.output and "1 steps" not in result.output


def test_validate_checks_every_file_also_after_a_missing_one(tmp_path):
    good = write(tmp_path, FLOW.format(out=tmp_path / "o"))
    result = runner.invoke(app, ["validate", str(tmp_path / "absent.yaml"), str(good)])
    assert result.exit_code == 2
    assert f"{tmp_path / 'absent.yaml'}: cannot read the workflow" in result.output
    assert f"✓ {good}" in result.output


def test_validate_reports_every_independent_problem_of_a_file(tmp_path):
    flow = tmp_path / "many.yaml"
    flow.write_text(textwrap.dedent("""
        workflow:
          name: many
          steps:
            - {name: a, type: file_ops, operation: copy}
            - name: b
              type: data_transform
              input_source: previous_response:a
              operations:
                - {operation: filter, condition: "total >"}
                - {operation: sort}
            - {name: c, type: gemini, prompt: "{{ steps.zz.text }}", condition: "(("}
    """), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(flow)])
    assert result.exit_code == 2
    for where in ("steps[0]: operation copy needs source and destination",
                  "steps[1].operations[0].condition", "steps[1].operations[1].field",
                  "steps[2].prompt[0].content", "steps[2].condition"):
        assert where in result.output, where


def test_schema_is_json_with_the_step_types(tmp_path):
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    text = json.dumps(json.loads(result.output))
    for step_type in ("claude", "gemini", "set_variable"):
        assert f'"{step_type}"' in text


def test_bad_mode_is_a_usage_error(tmp_path):
    flow = write(tmp_path, FLOW.format(out=tmp_path / "o"))
    result = runner.invoke(app, ["run", str(flow), "--mode", "nope"])
    assert result.exit_code == 2


def test_inputs_are_parsed_as_json_when_they_can_be(tmp_path):
    from rillet.cli import _parse_inputs

    assert _parse_inputs(["n=3", "name=river", "flags=[1,2]"]) == {
        "n": 3, "name": "river", "flags": [1, 2]}
