"""pipeline_ex's own workflow files (copied unchanged into pipeline_ex/, see NOTICE): each
copied file validates, those that can run finish in mock mode, and every other file of
pipeline_ex's repository is listed in the migration guide with the reason it is refused."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import rillet
from rillet.workflow.loader import load_workflow

CORPUS = Path(__file__).parent / "pipeline_ex"
GUIDE = Path(__file__).parents[2] / "docs" / "migration-from-pipeline-ex.md"

ALL_FILES = [line for line in (CORPUS / "MANIFEST").read_text().splitlines()
             if line and not line.startswith("#")]
COPIED = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.yaml"))

# Files that need a value pipeline_ex's docs say to pass on the command line.
INPUTS = {
    "workflows/explain_code.yaml": {"code_file": "explain_code.yaml"},
    "workflows/quick_review.yaml": {"code_file": "quick_review.yaml"},
    "workflows/fix_bug.yaml": {"error_log": "fix_bug.yaml"},
    # `mix pipeline.generate "<request>"` passes the request to its genesis pipelines.
    "pipelines/meta/genesis_pipeline.yaml": {"pipeline_request": "a pipeline that reviews "
                                                                 "a pull request"},
}
# Files that validate but cannot run here, and why (the guide's table says the same).
NOT_RUN = {
    "ai_project_innovation_pipeline.yaml": "reads prompt files that are not in the repository",
    "research_paper_improvement_gemini_pro_delayed.yaml": "reads ../research_papers/…, "
                                                          "outside the repository",
    "research_paper_improvement_pipeline.yaml": "reads ../research_papers/…, outside the "
                                                "repository",
    "working_genesis.yaml": "{{first_step.output}} in its prompt is never set",
}
RUNNABLE = [path for path in COPIED if path not in NOT_RUN]


def test_the_copies_are_files_of_the_manifest():
    assert COPIED and set(COPIED) <= set(ALL_FILES)
    assert set(NOT_RUN) <= set(COPIED)
    assert (CORPUS / "LICENSE").read_text().startswith("MIT License")


@pytest.mark.parametrize("path", COPIED)
def test_pipeline_ex_file_validates(path):
    workflow = load_workflow(CORPUS / path)
    assert workflow.steps


@pytest.mark.parametrize("path", RUNNABLE)
async def test_pipeline_ex_file_runs_in_mock_mode(path, tmp_path):
    # A copy: checkpoints and relative files go to the temporary folder, not the repository.
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    result = await rillet.run_async(corpus / path, mode="mock", output_dir=tmp_path / "out",
                                    workspace_dir=tmp_path / "ws", inputs=INPUTS.get(path, {}))
    assert result.status == "completed", result.error
    assert all(r.success for r in result.results.values())


def refused_in_guide() -> dict[str, str]:
    """The guide's table of pipeline_ex files: path -> reason."""
    rows = {}
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\|\s*`([^`]+\.ya?ml)`\s*\|(.*)\|\s*$", line)
        if match:
            rows[match[1]] = match[2].strip()
    return rows


def test_the_migration_guide_gives_the_reason_for_every_other_file():
    table = refused_in_guide()
    unexplained = [path for path in ALL_FILES if path not in COPIED and not table.get(path)]
    assert not unexplained, f"files with no reason in {GUIDE.name}: {unexplained}"
    assert all(table.get(path) for path in NOT_RUN), "a file that does not run has no reason"
    wrongly_listed = [path for path in table if path in RUNNABLE]
    assert not wrongly_listed, f"listed as refused but they run: {wrongly_listed}"
