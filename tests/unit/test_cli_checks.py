"""What `rillet run` and `rillet validate` catch before anything runs, and how a run that
fails says so."""

from __future__ import annotations

import textwrap
from pathlib import Path

from typer.testing import CliRunner

from rillet.cli import app

runner = CliRunner()

FLOW = """
workflow:
  name: checked
  defaults:
    output_dir: {out}
  steps:
    - name: hello
      type: claude
      prompt: "Say hello to {{{{ inputs.person_name }}}}"
      mock: {{text: "Hello", timing: {{pattern: fast}}}}
"""

TWO_PROVIDERS = """
workflow:
  name: two-providers
  steps:
    - name: plan
      type: gemini
      prompt: "Plan"
    - name: write
      type: claude
      provider: anthropic_api
      prompt: "Write"
"""

FAILING = """
workflow:
  name: failing
  defaults:
    output_dir: {out}
  steps:
    - name: story
      type: claude
      prompt: "Tell a story"
      mock: {{text: "Never shown", timing: {{pattern: fast}}, fault: {{kind: drop, after_deltas: 0}}}}
"""


def write(tmp_path, body, name="flow.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def run(tmp_path, *args):
    return runner.invoke(app, ["run", *map(str, args), "--workspace-dir", str(tmp_path / "ws")])


def no_credentials(monkeypatch, tmp_path):
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN",
                 "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no logged-in Claude CLI


def test_an_input_the_workflow_never_reads_is_an_error_with_did_you_mean(tmp_path):
    flow = write(tmp_path, FLOW.format(out=tmp_path / "out"))
    result = run(tmp_path, flow, "--mode", "mock", "-i", "person_nam=Ada")
    assert result.exit_code == 2
    assert "--input person_nam: workflow 'checked' never uses inputs.person_nam " \
           "(it reads: person_name); did you mean 'person_name'?" in result.stderr
    assert not (tmp_path / "out").exists()  # nothing ran
    assert run(tmp_path, flow, "--mode", "mock", "-i", "person_name=Ada").exit_code == 0


def test_an_input_read_as_a_bare_name_counts_as_read(tmp_path):
    # pipeline_ex's {{ code_file }}: a bare name an input fills when no variable is set.
    flow = write(tmp_path, FLOW.format(out=tmp_path / "out").replace(
        "inputs.person_name", "person_name"))
    result = run(tmp_path, flow, "--mode", "mock", "-q", "-i", "person_name=Ada")
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "out").rglob("results.json"))


def test_an_unknown_stream_handler_is_refused_before_the_run_with_did_you_mean(tmp_path):
    flow = write(tmp_path, FLOW.format(out=tmp_path / "out"))
    result = run(tmp_path, flow, "--mode", "mock", "--stream", "consol")
    assert result.exit_code == 2
    assert "--stream consol: unknown stream handler 'consol'" in result.stderr
    assert "did you mean 'console'?" in result.stderr
    assert not (tmp_path / "out").exists()


def test_live_mode_lists_every_provider_without_credentials_in_one_message(
        tmp_path, monkeypatch):
    no_credentials(monkeypatch, tmp_path)
    flow = write(tmp_path, TWO_PROVIDERS)
    result = run(tmp_path, flow, "--mode", "live", "--output-dir", tmp_path / "out")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cannot run live: no credentials for gemini, anthropic_api (")
    assert "GEMINI_API_KEY" in lines[0] and "ANTHROPIC_API_KEY" in lines[0]
    assert not (tmp_path / "out").exists()
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    again = run(tmp_path, flow, "--mode", "live", "--output-dir", tmp_path / "out")
    assert "no credentials for anthropic_api (" in again.stderr


def test_mixed_mode_checks_only_the_steps_that_ask_for_live(tmp_path, monkeypatch):
    no_credentials(monkeypatch, tmp_path)
    flow = write(tmp_path, TWO_PROVIDERS.replace('prompt: "Plan"',
                                                 'prompt: "Plan"\n      mode: live'))
    result = run(tmp_path, flow, "--mode", "mixed", "--output-dir", tmp_path / "out")
    assert result.exit_code == 2
    assert "no credentials for gemini (" in result.stderr
    assert "anthropic_api" not in result.stderr  # it runs on the simulator


NESTED = """
workflow:
  name: nested
  defaults:
    output_dir: {out}
  steps:
    - name: fanout
      type: parallel
      steps:
        - name: left
          type: gemini
          prompt: "Left for {{{{ inputs.person_name }}}}"
          mock: {{text: "L", timing: {{pattern: fast}}}}
    - name: pick
      type: switch
      expression: "fanout.left"
      cases:
        L:
          - name: right
            type: claude
            prompt: "Right"
            mock: {{text: "R", timing: {{pattern: fast}}}}
      default:
        - name: fallback
          type: claude
          provider: anthropic_api
          prompt: "Fallback"
          mock: {{text: "F", timing: {{pattern: fast}}}}
    - name: pair
      type: parallel_claude
      parallel_tasks:
        - id: task
          prompt: "Task about {{{{ inputs.topic }}}}"
          mock: {{text: "T", timing: {{pattern: fast}}}}
"""


def test_live_mode_checks_the_providers_of_steps_inside_containers(tmp_path, monkeypatch):
    no_credentials(monkeypatch, tmp_path)
    flow = write(tmp_path, NESTED.format(out=tmp_path / "out"))
    result = run(tmp_path, flow, "--mode", "live")
    assert result.exit_code == 2
    # a gemini branch, a claude step in a switch case, an API step in its default
    assert "no credentials for gemini, claude_agent, anthropic_api (" in result.stderr
    assert not (tmp_path / "out").exists()


def test_inputs_read_by_steps_inside_containers_are_known(tmp_path):
    flow = write(tmp_path, NESTED.format(out=tmp_path / "out"))
    typo = run(tmp_path, flow, "--mode", "mock", "-i", "topik=rivers")
    assert typo.exit_code == 2
    assert "(it reads: person_name, topic); did you mean 'topic'?" in typo.stderr
    ok = run(tmp_path, flow, "--mode", "mock", "-i", "person_name=Ada", "-i", "topic=rivers")
    assert ok.exit_code == 0, ok.output


def test_the_first_line_names_the_sdks_really_used(tmp_path, monkeypatch):
    no_credentials(monkeypatch, tmp_path)
    from rillet.cli_report import describe_modes
    from rillet.workflow.loader import load_workflow

    gemini_only = load_workflow(write(tmp_path, TWO_PROVIDERS.split("    - name: write")[0]))
    both = load_workflow(write(tmp_path, TWO_PROVIDERS, "both.yaml"))
    assert describe_modes(gemini_only, "sim") == "google-genai against the built-in simulator"
    assert describe_modes(both, "mixed") == (
        "google-genai and the anthropic SDK against the built-in simulator "
        "(no API key found for those steps)")
    assert describe_modes(both, "mock") == "the in-process mock provider"


def test_a_failure_goes_to_stderr_and_quiet_still_prints_it(tmp_path):
    flow = write(tmp_path, FAILING.format(out=tmp_path / "out"))
    loud = run(tmp_path, flow, "--mode", "mock")
    quiet = run(tmp_path, flow, "--mode", "mock", "-q")
    for result in (loud, quiet):
        assert result.exit_code == 1
        assert "✗ failed: step 'story'" in result.stderr
        assert "✗ failed" not in result.stdout
    assert quiet.stdout == ""


def test_no_text_kept_is_claimed_when_no_text_was_produced(tmp_path):
    flow = write(tmp_path, FAILING.format(out=tmp_path / "out"))
    result = run(tmp_path, flow, "--mode", "mock")
    assert "the text produced so far is kept" not in result.stderr
    assert "no text was produced; the run is recorded in " in result.stderr


def test_validate_reports_a_fixed_prompt_file_that_does_not_exist(tmp_path):
    (tmp_path / "here.md").write_text("notes", encoding="utf-8")
    flow = write(tmp_path, """
    workflow:
      name: files
      steps:
        - name: read
          type: claude
          prompt:
            - type: file
              path: here.md
            - type: file
              path: missing.md
            - type: file
              path: "{{ inputs.chosen }}"
    """)
    result = runner.invoke(app, ["validate", str(flow)])
    assert result.exit_code == 2
    assert f"{flow}:11: prompt file 'missing.md' does not exist: looked neither beside " \
           f"the workflow file nor in the current folder ({tmp_path / 'missing.md'} nor " \
           f"{Path.cwd() / 'missing.md'})" in result.stderr
    assert "here.md" not in result.stderr and "inputs.chosen" not in result.stderr
    (tmp_path / "missing.md").write_text("now here", encoding="utf-8")
    assert runner.invoke(app, ["validate", str(flow)]).exit_code == 0


def test_validate_finds_a_prompt_file_in_the_current_folder_when_not_beside(
        tmp_path, monkeypatch):
    # pipeline_ex read `./lib/x.ex` from where it ran: `mix pipeline.run examples/f.yaml`
    (tmp_path / "examples").mkdir()
    (tmp_path / "lib").mkdir()
    flow = write(tmp_path / "examples", """
    workflow:
      name: files
      steps:
        - name: read
          type: claude
          prompt:
            - {type: file, path: ./lib/config.ex}
    """)
    monkeypatch.chdir(tmp_path)
    missing = runner.invoke(app, ["validate", "examples/flow.yaml"])
    assert missing.exit_code == 2
    assert f"looked neither beside the workflow file nor in the current folder " \
           f"({tmp_path / 'examples/lib/config.ex'} nor {tmp_path / 'lib/config.ex'})" \
           in missing.stderr
    (tmp_path / "lib" / "config.ex").write_text("defmodule Config do end")
    assert runner.invoke(app, ["validate", str(flow)]).exit_code == 0


def test_validate_notes_a_prompt_file_in_a_folder_the_run_writes_into(tmp_path,
                                                                      monkeypatch):
    flow = write(tmp_path, """
    workflow:
      name: files
      workspace_dir: ./workspace
      defaults: {output_dir: ./outputs}
      steps:
        - name: read
          type: claude
          prompt:
            - {type: file, path: ./workspace/docs/made.md}
            - {type: file, path: ./outputs/earlier.md}
            - {type: file, path: ./elsewhere/gone.md}
    """)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", "flow.yaml"])
    assert result.exit_code == 2  # only the file outside those folders is a problem
    assert "flow.yaml:12: prompt file './elsewhere/gone.md' does not exist" in result.stderr
    assert "made.md" not in result.stderr and "earlier.md" not in result.stderr
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "gone.md").write_text("here")
    result = runner.invoke(app, ["validate", "flow.yaml"])
    assert result.exit_code == 0
    assert "note: flow.yaml:10: prompt file './workspace/docs/made.md' does not exist " \
           "yet; it lies in a folder the run writes into" in result.stdout
    assert "note: flow.yaml:11: prompt file './outputs/earlier.md'" in result.stdout


def test_help_reads_like_a_click_cli():
    text = runner.invoke(app, ["run", "--help"], prog_name="rillet").stdout
    assert "Usage: rillet run [OPTIONS] FILE\n" in text
    for tag in ("<bool>", "<str>", "<path>", "{FILE}", "<file>", "<list"):
        assert tag not in text
    assert "-i, --input KEY=VALUE" in text and "--output-dir DIR" in text
