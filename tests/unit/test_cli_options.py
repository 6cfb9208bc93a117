"""The `rillet run` options that change what a run does: --stream, --input, --resume,
--no-prewarm and --telemetry, each as a user types it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from typer.testing import CliRunner

from rillet.cli import app

runner = CliRunner()

FLOW = """
workflow:
  name: options
  checkpoint_enabled: true
  checkpoint_dir: {checkpoints}
  inputs: {{topic: lakes}}
  steps:
    - name: note
      type: set_variable
      variables: {{subject: "{{{{ inputs.topic }}}}"}}
    - name: write
      type: claude
      stream_handler: console
      prompt: "Write about {{{{ state.subject }}}}"
      mock: {{text: "Water finds its level.", timing: {{pattern: fast}}{fault}}}
"""


def run(tmp_path, *args: str, fault: str = ""):
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(FLOW.format(checkpoints=tmp_path / "cp", fault=fault)))
    return runner.invoke(app, ["run", str(flow), "--mode", "mock", "--output-dir",
                               str(tmp_path / "out"), "--workspace-dir", str(tmp_path / "ws"),
                               *args])


def results(tmp_path) -> list[dict]:
    found = sorted((tmp_path / "out").glob("*/results.json"), key=os.path.getmtime)
    return [json.loads(p.read_text()) for p in found]


def test_stream_replaces_the_workflows_handlers(tmp_path):
    outcome = run(tmp_path, "--stream", "file", "--stream", "jsonl")

    assert outcome.exit_code == 0, outcome.output
    assert "Water finds its level." not in outcome.output  # no console handler any more
    assert (tmp_path / "out" / "write.txt").read_text() == "Water finds its level."
    lines = (tmp_path / "out" / "write.events.jsonl").read_text().splitlines()
    assert "".join(json.loads(x).get("text", "") for x in lines
                   if json.loads(x)["type"] == "TextDelta") == "Water finds its level."


def test_input_overrides_the_workflows_default(tmp_path):
    outcome = run(tmp_path, "--input", "topic=rivers", "-q")

    assert outcome.exit_code == 0, outcome.output
    assert results(tmp_path)[-1]["steps"]["note"]["variables"] == {"subject": "rivers"}


def test_resume_runs_only_what_the_checkpoint_lacks(tmp_path):
    failed = run(tmp_path, "-q", fault=", fault: {kind: drop, after_deltas: 1}")
    assert failed.exit_code == 1
    resumed = run(tmp_path, "--resume", "--json")

    assert resumed.exit_code == 0, resumed.output
    events = [json.loads(line) for line in resumed.output.splitlines()]
    assert [e["step"] for e in events if e["type"] == "StepStarted"] == ["write"]
    last = results(tmp_path)[-1]
    assert last["status"] == "completed"
    assert last["steps"]["write"]["text"] == "Water finds its level."


def test_no_prewarm_still_runs_the_workflow(tmp_path):
    outcome = run(tmp_path, "--no-prewarm", "-q")
    assert outcome.exit_code == 0, outcome.output


def test_telemetry_flag_exports_the_run_and_step_spans(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(FLOW.format(checkpoints=tmp_path / "cp", fault="")))
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none"}
    env.pop("RILLET_TELEMETRY", None)
    done = subprocess.run(
        [sys.executable, "-m", "rillet.cli", "run", str(flow), "--mode", "mock", "-q",
         "--telemetry", "--output-dir", str(tmp_path / "out"),
         "--workspace-dir", str(tmp_path / "ws")],
        env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert '"name": "rillet.pipeline"' in done.stderr
    assert '"name": "rillet.step"' in done.stderr
    assert '"rillet.step": "write"' in done.stderr


def test_unset_names_empty_runs_a_prompt_with_a_name_nothing_set(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent("""
        workflow:
          name: unset
          steps:
            - {name: write, type: claude, prompt: "Use {{first_step.output}} here", mock: ok}
    """))
    args = ["run", str(flow), "--mode", "mock", "-q", "--output-dir", str(tmp_path / "out"),
            "--workspace-dir", str(tmp_path / "ws")]
    strict = runner.invoke(app, args)
    assert strict.exit_code == 1 and "'first_step' is not set" in strict.output
    lenient = runner.invoke(app, [*args[:-1], str(tmp_path / "ws"), "--unset-names", "empty"])
    assert lenient.exit_code == 0, lenient.output
    assert results(tmp_path)[-1]["warnings"] == [
        "template name 'first_step' is not set and was rendered as empty text "
        "(--unset-names empty)"]
    wrong = runner.invoke(app, [*args, "--unset-names", "blank"])
    assert wrong.exit_code == 2 and "choose error or empty" in wrong.output


def test_a_batched_loop_prints_a_line_per_batch(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent("""
        workflow:
          name: batches
          steps:
            - name: each
              type: for_loop
              data_source: [1, 2, 3]
              batch_size: 2
              steps:
                - {name: tick, type: echo, value: "{{ loop.item }}"}
    """))
    outcome = runner.invoke(app, ["run", str(flow), "--mode", "mock", "--output-dir",
                                  str(tmp_path / "out"), "--workspace-dir", str(tmp_path / "ws")])
    assert outcome.exit_code == 0, outcome.output
    assert "each: batch 1/2, iterations 0-1" in outcome.output
    assert "each: batch 2/2, iterations 2-2" in outcome.output
