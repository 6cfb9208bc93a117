"""Prompt `file` parts read only regular files, only from the workflow's folder (or folders
allowed), only up to a size limit, and never block the event loop."""

from __future__ import annotations

import asyncio
import os
import textwrap
import time

import pytest

import rillet

FLOW = """
workflow:
  name: reads
  {extra}
  steps:
    - name: ask
      type: claude
      prompt:
        - {{type: file, path: "{path}"}}
      mock: {{text: "ok", timing: {{pattern: fast}}}}
"""


def _flow(tmp_path, path, extra=""):
    folder = tmp_path / "flow"
    folder.mkdir(exist_ok=True)
    flow = folder / "flow.yaml"
    flow.write_text(textwrap.dedent(FLOW.format(path=path, extra=extra)))
    return flow


def _run(flow, tmp_path, **options):
    return rillet.run(flow, mode="mock", quiet=True, output_dir=tmp_path / "out",
                      workspace_dir=tmp_path / "ws", **options)


def test_a_file_beside_the_workflow_is_read(tmp_path):
    flow = _flow(tmp_path, "notes.txt")
    (flow.parent / "notes.txt").write_text("my notes")
    result = _run(flow, tmp_path)
    assert result.success, result.error


@pytest.mark.parametrize("path", ["/proc/self/environ", "../secret.txt", "/etc/hostname"])
def test_a_file_outside_the_workflow_folder_is_refused(tmp_path, path):
    (tmp_path / "secret.txt").write_text("secret")
    result = _run(_flow(tmp_path, path), tmp_path)
    assert result.status == "failed"
    assert "outside the workflow's folder" in result.error and "--allow-read" in result.error


def test_a_folder_allowed_by_flag_or_workflow_may_be_read(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "notes.txt").write_text("shared notes")
    by_flag = _run(_flow(tmp_path, str(shared / "notes.txt")), tmp_path, read_paths=[shared])
    by_workflow = _run(_flow(tmp_path, "../shared/notes.txt", extra="read_paths: [../shared]"),
                       tmp_path)
    assert by_flag.success, by_flag.error
    assert by_workflow.success, by_workflow.error


def test_a_symlink_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "secret.txt").write_text("secret")
    flow = _flow(tmp_path, "link.txt")
    (flow.parent / "link.txt").symlink_to(tmp_path / "secret.txt")
    result = _run(flow, tmp_path)
    assert result.status == "failed" and "outside" in result.error


def test_a_device_is_refused(tmp_path):
    flow = _flow(tmp_path, "/dev/zero")
    result = _run(flow, tmp_path, read_paths=["/dev"])
    assert result.status == "failed" and "not a regular file" in result.error


def test_a_fifo_is_refused_at_once(tmp_path):
    flow = _flow(tmp_path, "pipe")
    os.mkfifo(flow.parent / "pipe")
    started = time.monotonic()
    result = _run(flow, tmp_path)
    assert result.status == "failed" and "not a regular file" in result.error
    assert time.monotonic() - started < 5


def test_a_file_over_the_limit_is_refused(tmp_path):
    flow = _flow(tmp_path, "big.txt")
    (flow.parent / "big.txt").write_bytes(b"x" * 2000)
    result = _run(flow, tmp_path, max_file_bytes=1000)
    assert result.status == "failed" and "larger than 1,000 bytes" in result.error


async def test_prompt_files_are_read_off_the_event_loop(tmp_path, monkeypatch):
    """While a prompt file is being read, the loop keeps turning (a ticker advances)."""
    from rillet.steps import prompt_files

    flow = _flow(tmp_path, "notes.txt")
    (flow.parent / "notes.txt").write_text("my notes")
    real = prompt_files.read_prompt_file

    def slow(path, policy, *rest):
        time.sleep(0.5)  # a slow disk
        return real(path, policy, *rest)

    monkeypatch.setattr(prompt_files, "read_prompt_file", slow)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.ensure_future(ticker())
    result = await rillet.run_async(flow, mode="mock", quiet=True, output_dir=tmp_path / "o",
                                    workspace_dir=tmp_path / "ws")
    task.cancel()
    assert result.success, result.error
    assert ticks >= 10


async def test_a_read_that_takes_too_long_fails_the_step_in_time(tmp_path, monkeypatch):
    from rillet.engine.context import RunContext
    from rillet.steps import prompt_files
    from rillet.steps.prompt_files import PromptError, ReadPolicy, prefetch
    from rillet.workflow.loader import load_workflow

    flow = _flow(tmp_path, "notes.txt")
    (flow.parent / "notes.txt").write_text("my notes")
    monkeypatch.setattr(prompt_files, "read_prompt_file",
                        lambda path, policy, *rest: time.sleep(2) or "late")  # a stuck disk
    workflow = load_workflow(flow)
    ctx = RunContext(workflow=workflow, run_id="r", base_dir=flow.parent, output_dir=tmp_path,
                     run_dir=tmp_path, workspace_dir=tmp_path,
                     read_policy=ReadPolicy((flow.parent.resolve(),), timeout_s=0.2))
    started = time.monotonic()
    with pytest.raises(PromptError, match="took more than 0.2 s"):
        await prefetch(workflow.steps[0], ctx)
    assert time.monotonic() - started < 1.5


# --- where a relative path is looked up: beside the workflow, then the current folder --------

def test_a_file_not_beside_the_workflow_is_read_from_the_current_folder(tmp_path,
                                                                        monkeypatch):
    # pipeline_ex's users ran `mix pipeline.run examples/x.yaml` from the repository root
    flow = _flow(tmp_path, "./lib/config.ex")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "config.ex").write_text("from the root")
    monkeypatch.chdir(tmp_path)
    result = _run(flow, tmp_path)
    assert result.success, result.error
    missing = _run(_flow(tmp_path, "./lib/gone.ex"), tmp_path)
    assert missing.status == "failed"
    assert (f"looked neither beside the workflow file nor in the current folder "
            f"({flow.parent / 'lib/gone.ex'} nor {tmp_path / 'lib/gone.ex'})") in missing.error


def test_the_file_beside_the_workflow_comes_before_the_current_folders(tmp_path,
                                                                      monkeypatch):
    from rillet.steps.prompt_files import locate

    flow = _flow(tmp_path, "notes.txt")
    (flow.parent / "notes.txt").write_text("beside")
    (tmp_path / "notes.txt").write_text("in the current folder")
    found = locate("notes.txt", flow.parent, tmp_path)
    assert found.path == flow.parent / "notes.txt" and not found.from_cwd
    (flow.parent / "notes.txt").unlink()
    found = locate("notes.txt", flow.parent, tmp_path)
    assert found.path == tmp_path / "notes.txt" and found.from_cwd
    monkeypatch.chdir(tmp_path)
    assert _run(flow, tmp_path).success


def test_the_current_folder_is_a_root_only_for_the_fallback(tmp_path, monkeypatch):
    # A link beside the workflow into the current folder is still outside the roots.
    (tmp_path / "secret.txt").write_text("secret")
    flow = _flow(tmp_path, "link.txt")
    (flow.parent / "link.txt").symlink_to(tmp_path / "secret.txt")
    monkeypatch.chdir(tmp_path)
    result = _run(flow, tmp_path)
    assert result.status == "failed" and "outside the workflow's folder" in result.error


def test_the_fallback_keeps_to_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "secret.txt").write_text("secret")
    here = tmp_path / "here"
    here.mkdir()
    flow = _flow(tmp_path, "../../secret.txt")  # not beside: flow/../../ is above tmp_path
    monkeypatch.chdir(here)  # here/../../secret.txt does not exist either
    (here / "sub").mkdir()
    monkeypatch.chdir(here / "sub")  # here/sub/../../secret.txt is tmp_path/secret.txt
    result = _run(flow, tmp_path)
    assert result.status == "failed"
    assert "outside the workflow's folder" in result.error and "current folder" in result.error


# --- files a step writes during the run ------------------------------------------------------

TWO_STEPS = """
workflow:
  name: made
  workspace_dir: ./workspace
  defaults: {output_dir: ./outputs}
  steps:
    - name: write
      type: claude
      output_to_file: made.md
      prompt: "Write it"
      mock: {text: "written by the first step", timing: {pattern: fast}}
    - name: read
      type: claude
      prompt:
        - {type: file, path: "./outputs/made.md"}
      mock: {text: "ok", timing: {pattern: fast}}
"""


def test_a_file_an_earlier_step_writes_is_read_when_its_step_runs(tmp_path, monkeypatch):
    flow = tmp_path / "flows" / "flow.yaml"
    flow.parent.mkdir()
    flow.write_text(TWO_STEPS)
    monkeypatch.chdir(tmp_path)
    result = rillet.run(flow, mode="mock", quiet=True)
    assert result.success, result.error
    assert not result.warnings


def test_a_missing_workspace_file_fails_clearly_when_its_step_runs(tmp_path):
    from rillet.engine.context import RunContext
    from rillet.steps.prompt_files import PromptError, ReadPolicy, read_part
    from rillet.workflow.loader import load_workflow

    flow = _flow(tmp_path, "./ws/docs/gone.md")
    ctx = RunContext(workflow=load_workflow(flow), run_id="r", base_dir=flow.parent,
                     output_dir=tmp_path / "out", run_dir=tmp_path, workspace_dir=tmp_path / "ws",
                     read_policy=ReadPolicy.for_run(flow.parent, cwd=tmp_path))
    with pytest.raises(PromptError, match="it lies in a folder the run writes into, and no "
                                          "earlier step wrote it"):
        read_part("./ws/docs/gone.md", ctx)
    with pytest.raises(PromptError, match="does not exist") as info:
        read_part("./elsewhere.md", ctx)
    assert "writes into" not in str(info.value)


def test_a_mock_run_puts_a_marked_stand_in_for_a_workspace_file_and_warns(tmp_path,
                                                                         monkeypatch):
    flow = _flow(tmp_path, "./workspace/docs/documentation.md", extra="workspace_dir: ./workspace")
    monkeypatch.chdir(tmp_path)
    result = rillet.run(flow, mode="mock", quiet=True, output_dir=tmp_path / "out")
    assert result.success, result.error
    assert any("step 'ask': prompt file './workspace/docs/documentation.md' does not exist"
               in w and "stand-in" in w for w in result.warnings)
