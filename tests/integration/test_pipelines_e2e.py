"""End-to-end: workflows run through `rillet run` as a user runs them, checking what the
user sees (the CLI's output and exit code) and what is written (results.json, steps.jsonl,
output files, handler files).

Most run on the mock provider in-process with typer's CliRunner; cancellation uses a real
subprocess and a real SIGINT; one test drives the real `anthropic` SDK on the simulator
through a fault mid-stream.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest


from typer.testing import CliRunner  # noqa: E402

from rillet.cli import app  # noqa: E402

DRAFT = "Rivers carve valleys over thousands of years, patiently and without rest."
POLISH = "Rivers patiently carve deep valleys."


def write(folder: Path, body: str, name: str = "flow.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def run_cli(tmp_path: Path, flow: Path, *extra: str):
    return invoke("run", str(flow), "--mode", "mock", "--output-dir", str(tmp_path / "out"),
                  "--workspace-dir", str(tmp_path / "ws"), *extra)


def results_of(tmp_path: Path) -> dict:
    (path,) = (tmp_path / "out").glob("*/results.json")
    return json.loads(path.read_text(encoding="utf-8"))


STREAMING = f"""
workflow:
  name: e2e-streaming
  global_vars: {{topic: rivers}}
  steps:
    - name: draft
      type: claude
      prompt: "Write about {{{{ global_vars.topic }}}}"
      stream_handler: [console, file]
      stream_handler_opts:
        file: {{path: "logs/{{step}}.jsonl", format: jsonl}}
      output_to_file: draft.md
      mock: {{text: "{DRAFT}", timing: {{pattern: fast}}}}
    - name: polish
      type: claude
      async_streaming: false
      prompt:
        - type: static
          content: "Polish this:"
        - type: previous_response
          step: draft
      output_to_file: polish.md
      mock: {{text: "{POLISH}", timing: {{pattern: fast}}}}
    - name: count
      type: set_variable
      variables:
        words: "{{{{ steps.polish.text.split() | length }}}}"
    - name: celebrate
      type: claude
      condition: "state.words > 100"
      prompt: "unreached"
"""


def test_streaming_pipeline_shows_the_text_and_writes_every_file(tmp_path: Path):
    outcome = run_cli(tmp_path, write(tmp_path, STREAMING))

    assert outcome.exit_code == 0, outcome.output
    shown = outcome.output
    assert shown.startswith("rillet ▸ e2e-streaming · 4 steps · the in-process mock provider")
    assert DRAFT in shown and POLISH in shown
    assert "celebrate: skipped (condition is false)" in shown
    assert "✓ done" in shown
    document = results_of(tmp_path)
    assert f"results: {tmp_path / 'out' / document['run_id'] / 'results.json'}" in \
        " ".join(shown.split())
    assert document["status"] == "completed"
    assert document["skipped"] == ["celebrate"]
    steps = document["steps"]
    assert steps["draft"]["text"] == DRAFT and steps["polish"]["text"] == POLISH
    assert steps["count"]["variables"] == {"words": 5}
    assert steps["draft"]["metrics"]["deltas"] > 5
    assert steps["draft"]["metrics"]["ttft_s"] is not None
    assert (tmp_path / "out" / "draft.md").read_text() == DRAFT
    assert (tmp_path / "out" / "polish.md").read_text() == POLISH
    log = [json.loads(line) for line in (tmp_path / "out" / "logs" / "draft.jsonl")
           .read_text().splitlines()]
    assert "".join(e["text"] for e in log if e["type"] == "TextDelta") == DRAFT
    lines = (tmp_path / "out" / document["run_id"] / "steps.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == ["draft", "polish", "count"]


def test_json_lines_show_streamed_and_non_streamed_steps_as_they_differ(tmp_path: Path):
    outcome = run_cli(tmp_path, write(tmp_path, STREAMING), "--json")

    assert outcome.exit_code == 0, outcome.output
    events = [json.loads(line) for line in outcome.stdout.splitlines()]
    assert events[0]["type"] == "PipelineStarted" and events[-1]["type"] == "PipelineCompleted"
    deltas = {}
    for event in events:
        if event["type"] == "TextDelta":
            deltas.setdefault(event["step"], []).append(event["text"])
    assert len(deltas["draft"]) > 5 and "".join(deltas["draft"]) == DRAFT
    assert deltas["polish"] == [POLISH]  # not streamed: the whole text at the end
    started = {e["step"]: e["streaming"] for e in events if e["type"] == "StepStarted"}
    assert started == {"draft": True, "polish": False, "count": False}
    assert [e["step"] for e in events if e["type"] == "StepSkipped"] == ["celebrate"]


def test_quiet_run_prints_nothing_but_writes_results(tmp_path: Path):
    outcome = run_cli(tmp_path, write(tmp_path, STREAMING), "--quiet")

    assert outcome.exit_code == 0
    assert outcome.output == ""
    assert results_of(tmp_path)["steps"]["draft"]["text"] == DRAFT


# --- invalid workflows ---------------------------------------------------------------------


def test_bad_yaml_syntax_names_the_file_and_line_and_runs_nothing(tmp_path: Path):
    flow = write(tmp_path, """
        workflow:
          name: broken
          steps:
            - name: a
              type: claude
              prompt: "unclosed
    """)
    outcome = run_cli(tmp_path, flow)

    assert outcome.exit_code == 2
    assert f"invalid workflow {flow}" in outcome.stderr
    assert "flow.yaml:" in outcome.stderr
    assert not (tmp_path / "out").exists()


def test_misspelt_option_is_reported_with_line_and_suggestion(tmp_path: Path):
    flow = write(tmp_path, """
        workflow:
          name: misspelt
          steps:
            - name: a
              type: claude
              prompt: "hello"
              stream_handlr: console
    """)
    outcome = run_cli(tmp_path, flow)

    assert outcome.exit_code == 2
    assert "flow.yaml:7: steps[0].stream_handlr: unknown option; did you mean stream_handler?" \
        in outcome.stderr
    validated = invoke("validate", str(flow))
    assert validated.exit_code == 2
    assert "stream_handlr" in validated.stderr


def test_unknown_handler_option_fails_at_load_not_mid_run(tmp_path: Path):
    flow = write(tmp_path, """
        workflow:
          name: bad-opts
          steps:
            - name: a
              type: claude
              prompt: "hello"
              stream_handler: file
              stream_handler_opts:
                file: {path: a.txt, formt: jsonl}
    """)
    outcome = run_cli(tmp_path, flow)

    assert outcome.exit_code == 2
    assert "formt" in outcome.stderr and "flow.yaml:" in outcome.stderr
    assert not (tmp_path / "out").exists()


# --- failures while running ------------------------------------------------------------------

FAILING_HANDLER = '''
from rillet import BaseHandler
from rillet.events import TextDelta


class Breaks(BaseHandler):
    name = "breaks"

    def __init__(self, options, ctx):
        self.seen = 0

    def on_event(self, event):
        if type(event) is TextDelta:
            self.seen += 1
            if self.seen == 3:
                raise RuntimeError("the dashboard is down")
'''


def test_failing_handler_is_detached_and_the_text_is_kept(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader appends the flow's folder
    (tmp_path / "e2e_breaking_handler.py").write_text(FAILING_HANDLER)  # beside the workflow
    flow = write(tmp_path, f"""
        workflow:
          name: handler-fails
          steps:
            - name: draft
              type: claude
              prompt: "Write"
              stream_handler: [e2e_breaking_handler.Breaks, console, file]
              stream_handler_opts:
                file: {{path: draft.txt}}
              output_to_file: draft.md
              mock: {{text: "{DRAFT}", timing: {{pattern: fast}}}}
            - name: next
              type: claude
              prompt:
                - type: previous_response
                  step: draft
              mock: {{text: "{POLISH}", timing: {{pattern: fast}}}}
    """)
    outcome = run_cli(tmp_path, flow)

    assert outcome.exit_code == 0, outcome.output
    assert "! draft: handler 'breaks' failed and was detached: RuntimeError: the dashboard " \
           "is down" in " ".join(outcome.output.split())
    # The console handler carried on: the whole text is there, around the warning, which
    # has a line of its own.
    assert "\n! draft: handler 'breaks'" in outcome.output
    assert DRAFT in re.sub(r"\n! draft: handler [^\n]*\n", "", outcome.output)
    document = results_of(tmp_path)
    assert document["status"] == "completed"
    assert document["steps"]["draft"]["text"] == DRAFT
    assert document["steps"]["next"]["text"] == POLISH
    assert any("the dashboard is down" in w for w in document["warnings"])
    assert (tmp_path / "out" / "draft.md").read_text() == DRAFT
    assert (tmp_path / "out" / "draft.txt").read_text() == DRAFT


MID_STREAM = """
workflow:
  name: breaks-mid-way
  steps:
    - name: story
      type: claude
      prompt: "Tell a story"
      output_to_file: story.txt
      mock:
        text: "Once upon a time a river ran through a quiet valley and nobody noticed it."
        timing: {pattern: fast}
        fault: {kind: drop, after_deltas: 6}
    - name: moral
      type: claude
      prompt:
        - type: previous_response
          step: story
"""


def test_provider_error_mid_stream_keeps_the_partial_text_and_stops(tmp_path: Path):
    outcome = run_cli(tmp_path, write(tmp_path, MID_STREAM))

    assert outcome.exit_code == 1
    shown = " ".join(outcome.output.split())
    assert "Once upon a time" in shown
    assert "■ story failed" in shown  # the step's console footer
    assert "✗ failed: step 'story'" in shown and "dropped the connection after 6" in shown
    assert "the text produced so far is kept in" in shown
    document = results_of(tmp_path)
    story = document["steps"]["story"]
    assert document["status"] == "failed" and document["failed_step"] == "story"
    assert story["status"] == "failed"
    assert story["text"].startswith("Once upon a time")
    assert story["text"] != "Once upon a time a river ran through a quiet valley and nobody " \
                            "noticed it."
    assert "moral" not in document["steps"]
    assert (tmp_path / "out" / "story.txt").read_text() == story["text"]


def test_a_failed_step_in_python_raises_with_the_partial_text(tmp_path: Path):
    import rillet

    result = rillet.run(write(tmp_path, MID_STREAM), mode="mock",
                        output_dir=tmp_path / "out", workspace_dir=tmp_path / "ws")

    assert result.status == "failed" and result.failed_step == "story"
    with pytest.raises(rillet.StepError) as info:
        result.raise_for_status()
    assert info.value.partial_text == result["story"].text
    assert info.value.partial_text.startswith("Once upon a time")


def test_a_stalled_stream_times_out_and_keeps_the_text(tmp_path: Path):
    flow = write(tmp_path, """
        workflow:
          name: stalls
          steps:
            - name: slow
              type: claude
              prompt: "Go"
              timeout_s: 0.5
              output_to_file: slow.txt
              mock:
                text: "alpha beta gamma delta epsilon zeta eta theta"
                timing: {pattern: fast}
                fault: {kind: stall, after_deltas: 3, seconds: 30}
    """)
    outcome = run_cli(tmp_path, flow)

    assert outcome.exit_code == 1
    assert "timed out after 0.5 s" in outcome.output
    step = results_of(tmp_path)["steps"]["slow"]
    assert step["text"].startswith("alpha") and "theta" not in step["text"]
    assert (tmp_path / "out" / "slow.txt").read_text() == step["text"]


# --- cancellation ------------------------------------------------------------------------------


def test_ctrl_c_keeps_what_was_streamed_and_exits_130(tmp_path: Path):
    words = " ".join(f"w{i}" for i in range(2000))
    flow = write(tmp_path, f"""
        workflow:
          name: cancel-me
          steps:
            - name: long
              type: claude
              prompt: "Write at length"
              output_to_file: long.txt
              mock:
                text: "{words}"
                timing: {{pattern: slow, first_token_delay_s: 0, tokens_per_second: 100}}
            - name: after
              type: claude
              prompt: "never"
    """)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "rillet.cli", "run", str(flow), "--mode", "mock",
         "--output-dir", str(out), "--workspace-dir", str(tmp_path / "ws")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        seen = b""
        deadline = time.monotonic() + 30
        while b"w15" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([child.stdout], [], [], 0.05)
            if ready:
                seen += os.read(child.stdout.fileno(), 65536)  # type: ignore[union-attr]
        assert b"w15" in seen, seen
        child.send_signal(signal.SIGINT)
        rest, _ = child.communicate(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
    shown = (seen + rest).decode("utf-8", "replace")
    assert child.returncode == 130, shown
    assert "cancelled" in shown and "kept in" in shown
    document = json.loads(next(out.glob("*/results.json")).read_text())
    step = document["steps"]["long"]
    assert document["status"] == "cancelled" and step["status"] == "cancelled"
    kept = step["text"].split()
    assert len(kept) >= 15 and kept == [f"w{i}" for i in range(len(kept))]
    assert step["metrics"]["interrupted"] is True
    assert "after" not in document["steps"]
    assert (out / "long.txt").read_text() == step["text"]


async def test_leaving_rillet_stream_early_cancels_and_writes_results(tmp_path: Path):
    import rillet
    from rillet.events import TextDelta

    words = " ".join(f"w{i}" for i in range(500))
    flow = write(tmp_path, f"""
        workflow:
          name: leave-early
          steps:
            - name: long
              type: claude
              prompt: "Write"
              mock: {{text: "{words}", timing: {{pattern: slow, first_token_delay_s: 0,
                                               tokens_per_second: 400}}}}
    """)
    seen = []
    events = rillet.stream(flow, mode="mock", output_dir=tmp_path / "out",
                           workspace_dir=tmp_path / "ws")
    async for event in events:
        if type(event) is TextDelta:
            seen.append(event.text)
            if len(seen) == 8:
                break
    await events.aclose()

    document = results_of(tmp_path)
    assert document["status"] == "cancelled"
    kept = document["steps"]["long"]["text"]
    assert kept.startswith("".join(seen))


# --- across the real SDK ------------------------------------------------------------------------


@pytest.mark.sdk
def test_anthropic_sdk_step_broken_mid_stream_on_the_simulator(tmp_path: Path):
    script = tmp_path / "script.yaml"
    script.write_text(json.dumps({"rules": [{
        "match": "essay", "text": " ".join(f"word{i}" for i in range(60)),
        "timing": {"pattern": "fast"}, "fault": {"kind": "drop", "after_deltas": 10}}]}))
    flow = write(tmp_path, """
        workflow:
          name: sdk-drop
          steps:
            - name: essay
              type: claude
              provider: anthropic_api
              model: claude-sonnet-5-5
              prompt: "Write an essay"
              output_to_file: essay.txt
    """)
    outcome = invoke("run", str(flow), "--mode", "sim", "--script", str(script),
                     "--output-dir", str(tmp_path / "out"), "--workspace-dir",
                     str(tmp_path / "ws"))

    assert outcome.exit_code == 1, outcome.output
    assert "word0" in outcome.output and "✗ failed" in outcome.output
    step = results_of(tmp_path)["steps"]["essay"]
    assert step["status"] == "failed"
    kept = step["text"].split()
    assert 0 < len(kept) < 60 and kept == [f"word{i}" for i in range(len(kept))]
    assert (tmp_path / "out" / "essay.txt").read_text() == step["text"]


@pytest.mark.sdk
def test_mixed_pipeline_through_the_real_cli_and_sdks_on_the_simulator(tmp_path: Path):
    """What a user without keys gets: the real Claude CLI (with the next step warmed while
    the first streams) and google-genai against the simulator, one step not streamed."""
    script = tmp_path / "script.yaml"
    # First match wins: each later prompt quotes the earlier answers.
    script.write_text(json.dumps({"timing": {"pattern": "fast"}, "rules": [
        {"match": "verdict", "text": '{"ship": true}'},
        {"match": "critique", "text": "The outline is clear but skips error handling."},
        {"match": "outline", "text": "1. Why streaming matters\n2. How deltas flow"},
    ]}))
    flow = write(tmp_path, """
        workflow:
          name: sim-chain
          steps:
            - name: outline
              type: claude
              claude_options: {max_turns: 1}
              prompt: "Write an outline about streaming"
              output_to_file: outline.md
            - name: critique
              type: gemini
              prompt:
                - type: static
                  content: "Give a critique of this outline:"
                - type: previous_response
                  step: outline
            - name: verdict
              type: claude
              async_streaming: false
              claude_options: {max_turns: 1}
              prompt:
                - type: static
                  content: "Give a verdict as JSON on:"
                - type: previous_response
                  step: critique
            - name: publish
              type: set_variable
              condition: "steps.verdict.ship"
              variables: {published: true}
    """)
    outcome = invoke("run", str(flow), "--mode", "sim", "--script", str(script),
                     "--output-dir", str(tmp_path / "out"), "--workspace-dir",
                     str(tmp_path / "ws"))

    assert outcome.exit_code == 0, outcome.output
    shown = outcome.output
    assert "against the built-in simulator" in shown.splitlines()[0]
    assert "1. Why streaming matters\n2. How deltas flow" in shown
    assert "The outline is clear but skips error handling." in shown
    assert '{"ship": true}' in shown
    assert "✓ publish:" in shown and "✓ done" in shown
    steps = results_of(tmp_path)["steps"]
    assert steps["outline"]["text"] == "1. Why streaming matters\n2. How deltas flow"
    assert steps["outline"]["metrics"]["deltas"] > 5
    assert steps["critique"]["model"] and "gemini" in steps["critique"]["model"]
    assert steps["verdict"]["text"] == '{"ship": true}'
    assert steps["publish"]["variables"] == {"published": True}
    assert steps["outline"]["cost_usd"] > 0 and steps["critique"]["cost_usd"] > 0
    assert (tmp_path / "out" / "outline.md").read_text() == steps["outline"]["text"]
