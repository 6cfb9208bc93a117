"""An unexpected exception inside a step ends the run as failed, naming the step and
keeping the text produced before it; it is never recorded as completed nor raised raw."""

from __future__ import annotations

import json

import rillet

FLOW = """
workflow:
  name: unexpected
  steps:
    - name: first
      type: claude
      prompt: "hello"
      mock: {{text: "kept text", timing: {{pattern: fast}}}}
    - name: second
      type: claude
{second}
      mock: {{text: "never", timing: {{pattern: fast}}}}
"""


def _results(result):
    return json.loads(result.results_path.read_text(encoding="utf-8"))


async def test_a_non_utf8_prompt_file_fails_the_run_naming_the_step(write_workflow, run_opts,
                                                                    tmp_path):
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    flow = write_workflow(FLOW.format(second="      prompt:\n"
                                             "        - {type: file, path: latin1.txt}"))

    result = await rillet.run_async(flow, **run_opts)

    assert result.status == "failed"
    assert result.failed_step == "second"
    assert "UnicodeDecodeError" in result.error or "UTF-8" in result.error
    recorded = _results(result)
    assert recorded["status"] == "failed"
    assert recorded["failed_step"] == "second"
    assert recorded["steps"]["first"]["text"] == "kept text"
    assert recorded["steps"]["second"]["status"] == "failed"


async def test_output_to_file_naming_a_folder_fails_the_run(write_workflow, run_opts):
    flow = write_workflow(FLOW.format(second='      prompt: "again"\n'
                                             '      output_to_file: "."'))

    result = await rillet.run_async(flow, **run_opts)

    assert result.status == "failed"
    assert result.failed_step == "second"
    assert _results(result)["status"] == "failed"
    assert result["first"].text == "kept text"


def test_the_cli_prints_one_line_and_exits_1(write_workflow, tmp_path):
    from typer.testing import CliRunner

    from rillet.cli import app

    flow = write_workflow(FLOW.format(second='      prompt: "again"\n'
                                             '      output_to_file: "."'))
    out = CliRunner().invoke(app, ["run", str(flow), "--mode", "mock", "--output-dir",
                                   str(tmp_path / "out"), "--workspace-dir",
                                   str(tmp_path / "ws")])

    assert out.exit_code == 1, out.output
    assert "Traceback" not in out.output
    assert "step 'second'" in out.output


NESTED = """
workflow:
  name: unexpected-nested
  steps:
    - name: first
      type: claude
      prompt: "hello"
      mock: {text: "kept text", timing: {pattern: fast}}
    - name: review
      type: for_loop
      data_source: ["a"]
      steps:
        - name: fine
          type: claude
          prompt: "fine"
          mock: {text: "iteration text", timing: {pattern: fast}}
        - name: fanout
          type: parallel
          steps:
            - name: sibling
              type: claude
              prompt: "sibling"
              mock: {text: "sibling text", timing: {pattern: fast}}
            - name: broken
              type: claude
              prompt: "broken"
              output_to_file: "."
              mock: {text: "never", timing: {pattern: fast}}
"""


async def test_an_unexpected_error_deep_in_a_tree_fails_the_run_naming_its_path(
        write_workflow, run_opts):
    result = await rillet.run_async(write_workflow(NESTED), **run_opts)

    assert result.status == "failed"
    assert result.failed_step == "review"
    assert "review[0].fanout.broken" in result.error
    assert "Traceback" not in result.error
    assert result["first"].text == "kept text"
    assert result["review[0].fine"].text == "iteration text"  # the text so far is kept
    assert result["review[0].fanout.broken"].status == "failed"
    recorded = _results(result)
    assert recorded["status"] == "failed"
    assert recorded["steps"]["review"]["status"] == "failed"


async def test_a_bug_in_a_plain_step_inside_a_loop_fails_the_run_naming_its_path(
        write_workflow, run_opts, monkeypatch, recorder):
    from rillet.events import StepFailed
    from rillet.steps import PLAIN_STEPS

    def broken(step, scope):
        raise KeyError("a bug")

    monkeypatch.setattr(PLAIN_STEPS["set_variable"], "run", broken)
    flow = write_workflow("""
workflow:
  name: plain-bug
  steps:
    - name: loop
      type: for_loop
      data_source: [1, 2]
      steps:
        - {name: calc, type: set_variable, variables: {x: 1}}
""")

    result = await rillet.run_async(flow, **run_opts)

    assert result.status == "failed"
    assert "loop[0].calc" in result.error and "KeyError" in result.error
    assert [e.step for e in recorder.of(StepFailed)] == ["loop[0].calc", "loop"]
    assert _results(result)["status"] == "failed"
