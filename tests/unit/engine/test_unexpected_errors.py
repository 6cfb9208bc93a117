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
