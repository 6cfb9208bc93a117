"""Every ```yaml and ```python block in README.md, ADVANCED_FEATURES.md and docs/*.md is
checked, so the documentation cannot drift from the code: workflows are loaded and run in
mock mode, fragments are parsed, rejected examples must be rejected with the documented
message, and Python blocks are executed in a temporary folder in mock mode. The markers
are described in doc_blocks.py."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from doc_blocks import Block, all_blocks, blocks_of, output_after, saved_before


BLOCKS = all_blocks()


@contextlib.contextmanager
def block_folder(block: Block, folder: Path, mode: str | None = "mock") -> Iterator[Path]:
    """cwd = a fresh folder holding the files earlier blocks saved, importable, TEST_MODE=mode
    (None: unset, the default mode)."""
    saved = saved_before(block)
    for name, text in saved.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    modules = {Path(name).stem for name in saved if name.endswith(".py")}
    old_cwd, old_path, old_mode = Path.cwd(), list(sys.path), os.environ.get("TEST_MODE")
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    if mode is None:
        os.environ.pop("TEST_MODE", None)
    else:
        os.environ["TEST_MODE"] = mode
    try:
        yield folder
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        if old_mode is None:
            os.environ.pop("TEST_MODE", None)
        else:
            os.environ["TEST_MODE"] = old_mode
        for name in modules:  # another document may save a module of the same name
            sys.modules.pop(name, None)


def check_yaml(block: Block, folder: Path, mode: str | None = "mock") -> None:
    import rillet
    from rillet.errors import WorkflowError
    from rillet.workflow.loader import loads_workflow

    if block.marker == "fragment":
        data = yaml.safe_load(block.code)
        assert isinstance(data, (dict, list)), f"{block.id}: a fragment should be a mapping or list"
        if isinstance(data, dict) and "workflow" in data:
            try:
                loads_workflow(block.code, source="doc.yaml")
            except WorkflowError:
                return  # part of a workflow, as marked
            pytest.fail(f"{block.id}: a complete workflow is marked as a fragment; remove "
                        f"the marker so it is run")
        return
    if block.marker == "sim-script":
        from rillet.sim.script import Script

        Script.from_dict(yaml.safe_load(block.code))
        return
    if block.marker == "invalid":
        assert block.arg, f"{block.id}: <!-- invalid: ... --> needs the expected message"
        with pytest.raises(WorkflowError) as info:
            loads_workflow(block.code, source="flow.yaml")
        assert block.arg in str(info.value), (
            f"{block.id}: expected the error to mention {block.arg!r}, got:\n{info.value}")
        shown = output_after(block)  # the error as the page shows it, if it does
        for line in (shown or "").splitlines():
            assert line.strip() in str(info.value), (
                f"{block.id}: the page shows {line.strip()!r}; rillet says:\n{info.value}")
        return
    with block_folder(block, folder, mode):
        path = folder / (block.arg if block.marker == "save-as" else "workflow.yaml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.code, encoding="utf-8")
        workflow = loads_workflow(block.code, source=path.name)
        assert workflow.steps, f"{block.id}: a workflow without steps"
        if block.marker == "no-run":
            assert block.arg, f"{block.id}: <!-- no-run: ... --> needs a reason"
            return
        result = rillet.run(path, mode=mode, output_dir=folder / "outputs",
                            workspace_dir=folder / "workspace", quiet=mode is None)
    assert result.success, f"{block.id}: the workflow failed in {mode or 'the default'} mode: " \
                           f"{result.error}"
    for step in workflow.steps:
        if step.type in ("claude", "gemini") and step.name in result.results:
            assert result[step.name].text.strip(), f"{block.id}: step {step.name} has no text"


def check_python(block: Block, folder: Path, mode: str | None = "mock") -> None:
    code = compile(block.code, block.id, "exec")
    if block.marker == "no-run":
        assert block.arg, f"{block.id}: <!-- no-run: ... --> needs a reason"
        return
    with block_folder(block, folder, mode):
        if block.marker == "save-as":
            (folder / block.arg).write_text(block.code, encoding="utf-8")
        exec(code, {"__name__": "__main__", "__file__": str(folder / "snippet.py")})  # noqa: S102


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_documentation_snippet_works(block: Block, tmp_path: Path, capsys):
    if block.lang == "yaml":
        check_yaml(block, tmp_path)
    else:
        check_python(block, tmp_path)


RUNNABLE = [b for b in BLOCKS if b.marker in (None, "save-as")]


@pytest.mark.sdk
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_documentation_snippet_works_in_the_default_mode(block: Block, tmp_path: Path,
                                                         monkeypatch, capsys):
    """As a new user runs it: no --mode, no key, so each step goes to the simulator."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN",
                 "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if block.lang == "yaml":
        check_yaml(block, tmp_path, mode=None)
    else:
        check_python(block, tmp_path, mode=None)


def test_the_checker_finds_the_snippets_of_every_document():
    by_file = {}
    for block in BLOCKS:
        by_file.setdefault(block.path.name, []).append(block)
    for name in ("README.md", "ADVANCED_FEATURES.md", "workflow-format.md", "streaming.md",
                 "migration-from-pipeline-ex.md", "quick-reference.md", "testing.md"):
        assert by_file.get(name), f"no yaml/python snippet found in {name}"
    complete = [b for b in BLOCKS if b.lang == "yaml" and b.marker in (None, "save-as")]
    assert len(complete) >= 10, "most documented workflows should run, not only parse"


# --- the checker checks: a broken snippet fails it --------------------------------------------


def _block(tmp_path: Path, markdown: str) -> Block:
    doc = tmp_path / "doc.md"
    doc.write_text(markdown, encoding="utf-8")
    (block,) = blocks_of(doc)
    return block


GOOD = """workflow:
  name: ok
  steps:
    - name: hello
      type: claude
      prompt: "Say hello"
"""


def test_checker_reads_markers_and_strips_list_indentation(tmp_path: Path):
    indented = "1. A step:\n\n   <!-- fragment -->\n   ```yaml\n   name: x\n   type: claude\n   ```\n"
    block = _block(tmp_path, indented)
    assert (block.lang, block.marker, block.code) == ("yaml", "fragment", "name: x\ntype: claude\n")
    block = _block(tmp_path, "<!-- no-run: needs a key -->\n\n```python\nprint(1)\n```\n")
    assert (block.marker, block.arg) == ("no-run", "needs a key")


def test_checker_rejects_an_unknown_marker(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown snippet marker 'fragmnet'"):
        _block(tmp_path, "<!-- fragmnet -->\n```yaml\na: 1\n```\n")


def test_checker_runs_a_complete_workflow_and_fails_a_misspelt_one(tmp_path: Path):
    check_yaml(_block(tmp_path, f"```yaml\n{GOOD}```\n"), tmp_path)
    misspelt = GOOD.replace("prompt:", "promtp:")
    with pytest.raises(Exception, match="promtp"):
        check_yaml(_block(tmp_path, f"```yaml\n{misspelt}```\n"), tmp_path)


def test_checker_fails_an_invalid_example_that_loads(tmp_path: Path):
    with pytest.raises(pytest.fail.Exception):
        check_yaml(_block(tmp_path, f"<!-- invalid: unknown -->\n```yaml\n{GOOD}```\n"), tmp_path)


def test_checker_runs_python_in_a_folder_with_the_saved_files(tmp_path: Path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"<!-- save-as: flow.yaml -->\n```yaml\n{GOOD}```\n\n"
                   "```python\nimport rillet\n"
                   "result = rillet.run('flow.yaml', output_dir='o', workspace_dir='w')\n"
                   "assert result['hello'].text\n```\n", encoding="utf-8")
    saved, runner = blocks_of(doc)
    work = tmp_path / "work"
    work.mkdir()
    check_python(runner, work)
    assert list((work / "o").glob("*/results.json"))
    broken = Block(runner.path, runner.line, "python", "raise RuntimeError('stale snippet')\n")
    with pytest.raises(RuntimeError, match="stale snippet"):
        check_python(broken, work)


def test_checker_compares_the_error_a_page_shows_with_the_real_one(tmp_path: Path):
    misspelt = GOOD.replace("prompt:", "promtp:")
    page = f"<!-- invalid: promtp -->\n```yaml\n{misspelt}```\n\n```text\nflow.yaml:6: {{}}\n```\n"
    with pytest.raises(AssertionError, match="the page shows"):
        check_yaml(_block(tmp_path, page.format("steps[0].promtp: no such key")), tmp_path)
