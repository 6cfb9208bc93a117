"""Files a run writes: never mixed with another run's, never through a symlink out of the
output folder, never half-written; checkpoints survive a cut line and refuse other inputs."""

from __future__ import annotations

import errno
import json
import os

import pytest

import rillet
from rillet.engine import results as results_module
from rillet.engine.checkpoints import CheckpointMismatch, checkpoint_path
from rillet.errors import RunRefused
from rillet.events import StepStarted
from rillet.safe_files import FileInUse, open_exclusive

SLOW_TO_FILE = """
workflow:
  name: writer
  steps:
    - name: write
      type: claude
      output_to_file: shared.md
      prompt: "go"
      mock:
        text: "{text}"
        timing: {{first_token_delay_s: 0, tokens_per_second: 40, chunk_tokens: 1}}
"""

CHECKPOINTED = """
workflow:
  name: checkpointed
  checkpoint_enabled: true
  checkpoint_dir: {checkpoints}
  inputs: {{topic: rivers}}
  steps:
    - name: first
      type: claude
      prompt: "one {{{{inputs.topic}}}}"
      mock: {{text: "first answer", timing: {{pattern: fast}}}}
    - name: second
      type: claude
      prompt: "two"
      mock: {{text: "second answer", timing: {{pattern: fast}}{fault}}}
    - name: third
      type: claude
      prompt: "three"
      mock: {{text: "third answer", timing: {{pattern: fast}}}}
"""


# --- item 6: two runs, one file ---------------------------------------------------------------


async def test_two_runs_on_one_output_file_never_mix_their_text(write_workflow, tmp_path):
    import asyncio

    # Each run streams for about a second: long enough to overlap on a loaded machine.
    a = write_workflow(SLOW_TO_FILE.format(text=" ".join(["alpha"] * 40)), "a.yaml")
    b = write_workflow(SLOW_TO_FILE.format(text=" ".join(["bravo"] * 40)), "b.yaml")
    out = tmp_path / "out"
    common = {"mode": "mock", "output_dir": out, "workspace_dir": tmp_path / "ws",
              "quiet": True}

    first, second = await asyncio.gather(rillet.run_async(a, **common),
                                         rillet.run_async(b, **common))

    written = (out / "shared.md").read_text()
    assert {first.status, second.status} == {"completed", "failed"}
    winner = first if first.success else second
    loser = second if first.success else first
    assert written == winner["write"].text
    assert "being written by another run" in loser.error


async def test_a_checkpoint_in_use_refuses_a_second_run(write_workflow, run_opts, tmp_path):
    checkpoints = tmp_path / "cp"
    flow = write_workflow(CHECKPOINTED.format(checkpoints=checkpoints, fault=""))
    with open_exclusive(checkpoint_path(checkpoints, "checkpointed"), what="test"):
        with pytest.raises(FileInUse, match="another run"):
            await rillet.run_async(flow, **run_opts)


# --- item 7: checkpoints ----------------------------------------------------------------------


async def test_a_cut_checkpoint_line_does_not_make_a_later_resume_rerun_steps(
        write_workflow, run_opts, tmp_path, recorder):
    checkpoints = tmp_path / "cp"
    failing = write_workflow(CHECKPOINTED.format(
        checkpoints=checkpoints, fault=", fault: {kind: drop, after_deltas: 1}"))
    await rillet.run_async(failing, **run_opts)
    file = checkpoint_path(checkpoints, "checkpointed")
    with file.open("a", encoding="utf-8") as f:
        f.write('{"result": {"step": "second", "stat')  # a crash mid-record

    fixed = write_workflow(CHECKPOINTED.format(checkpoints=checkpoints, fault=""))
    second = await rillet.run_async(fixed, resume=True, **run_opts)
    assert second.success, second.error
    recorder.events.clear()
    third = await rillet.run_async(fixed, resume=True, **run_opts)

    assert third.success
    assert [e.step for e in recorder.of(StepStarted)] == []  # nothing is spent again
    assert third["third"].text == "third answer"
    for line in file.read_text().splitlines():
        json.loads(line)  # every record whole


async def test_resume_with_other_inputs_is_refused(write_workflow, run_opts, tmp_path):
    checkpoints = tmp_path / "cp"
    flow = write_workflow(CHECKPOINTED.format(checkpoints=checkpoints, fault=""))
    await rillet.run_async(flow, **run_opts)

    with pytest.raises(CheckpointMismatch, match="other inputs"):
        await rillet.run_async(flow, resume=True, **{**run_opts, "inputs": {"topic": "sea"}})


async def test_resume_without_checkpoints_says_so(write_workflow, run_opts):
    flow = write_workflow(SLOW_TO_FILE.format(text="hello"))
    with pytest.raises(RunRefused, match="checkpoint_enabled"):
        await rillet.run_async(flow, resume=True, **run_opts)


def test_the_cli_refuses_resume_without_checkpoints_in_one_line(write_workflow, tmp_path):
    from typer.testing import CliRunner

    from rillet.cli import app

    flow = write_workflow(SLOW_TO_FILE.format(text="hello"))
    out = CliRunner().invoke(app, ["run", str(flow), "--resume", "--mode", "mock",
                                   "--output-dir", str(tmp_path / "out")])
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output
    assert len(out.output.strip().splitlines()) <= 2  # the intro line and the refusal


# --- item 8: a full disk ------------------------------------------------------------------


def _disk_full(*args, **kwargs):
    file = args[1]
    file.write('{"run_id": "half')
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


async def test_a_full_disk_leaves_no_tmp_and_claims_no_results(write_workflow, run_opts,
                                                               monkeypatch, tmp_path):
    monkeypatch.setattr(results_module.json, "dump", _disk_full)
    flow = write_workflow(SLOW_TO_FILE.format(text="hello"))

    with pytest.raises(rillet.RilletError, match="No space left on device") as caught:
        await rillet.run_async(flow, **run_opts)

    assert "\n" not in str(caught.value)
    assert list((tmp_path / "out").rglob("*.tmp")) == []
    assert list((tmp_path / "out").rglob("results.json")) == []


def test_a_full_disk_is_one_line_and_exit_1_on_the_cli(write_workflow, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from rillet.cli import app

    monkeypatch.setattr(results_module.json, "dump", _disk_full)
    flow = write_workflow(SLOW_TO_FILE.format(text="hello"))
    out = CliRunner().invoke(app, ["run", str(flow), "--mode", "mock", "--output-dir",
                                   str(tmp_path / "out"), "--workspace-dir",
                                   str(tmp_path / "ws")])
    assert out.exit_code == 1, out.output
    assert "Traceback" not in out.output
    assert "No space left on device" in out.output
    assert "results:" not in out.output  # nothing claimed as written


# --- item 12 (writes): symlinks -----------------------------------------------------------


async def test_output_to_file_never_writes_through_a_symlink(write_workflow, run_opts,
                                                             tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    out = run_opts["output_dir"]
    out.mkdir(parents=True)
    (out / "shared.md").symlink_to(outside)

    result = await rillet.run_async(write_workflow(SLOW_TO_FILE.format(text="hi")),
                                    **run_opts)

    assert result.status == "failed" and "symlink" in result.error
    assert outside.read_text() == "keep me"


async def test_output_to_file_never_writes_through_a_symlinked_folder(write_workflow,
                                                                      run_opts, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = run_opts["output_dir"]
    out.mkdir(parents=True)
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)
    body = SLOW_TO_FILE.format(text="hi").replace("shared.md", "sub/shared.md")

    result = await rillet.run_async(write_workflow(body), **run_opts)

    assert result.status == "failed" and "symlink" in result.error
    assert list(elsewhere.iterdir()) == []


FANNED = """
workflow:
  name: fanned
  checkpoint_enabled: true
  checkpoint_dir: {checkpoints}
  inputs: {{topic: rivers}}
  steps:
    - name: fanout
      type: parallel
      steps:
        - {{name: quick, type: claude, prompt: "quick", mock: {{text: "quick answer",
            timing: {{pattern: fast}}}}}}
        - {{name: flaky, type: claude, prompt: "flaky", mock: {{text: "flaky answer",
            timing: {{first_token_delay_s: 0.3, tokens_per_second: 400}}{fault}}}}}
"""


async def test_a_cut_checkpoint_resumes_a_container_by_path(write_workflow, run_opts,
                                                            tmp_path, recorder):
    checkpoints = tmp_path / "cp"
    failing = write_workflow(FANNED.format(
        checkpoints=checkpoints, fault=", fault: {kind: drop, after_deltas: 1}"))
    first = await rillet.run_async(failing, **run_opts)
    assert first.status == "failed" and "fanout.flaky" in first.error
    file = checkpoint_path(checkpoints, "fanned")
    header = json.loads(file.read_text().splitlines()[0])
    assert set(header) == {"run"} and len(header["run"]["inputs_sha256"]) == 64
    with file.open("a", encoding="utf-8") as f:
        f.write('{"result": {"step": "fanout.flaky", "stat')  # a crash mid-record

    recorder.events.clear()
    fixed = write_workflow(FANNED.format(checkpoints=checkpoints, fault=""))
    second = await rillet.run_async(fixed, resume=True, **run_opts)

    assert second.success, second.error
    assert [e.step for e in recorder.of(StepStarted)] == ["fanout", "fanout.flaky"]
    assert second["fanout.quick"].text == "quick answer"
    assert second["fanout.flaky"].text == "flaky answer"
    for line in file.read_text().splitlines():
        json.loads(line)  # the cut record was trimmed: every record whole
    with pytest.raises(CheckpointMismatch, match="other inputs"):
        await rillet.run_async(fixed, resume=True, **{**run_opts, "inputs": {"topic": "sea"}})
