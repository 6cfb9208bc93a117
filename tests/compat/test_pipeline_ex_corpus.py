"""pipeline_ex's own workflow files (copied unchanged into pipeline_ex/, see NOTICE): each
copied file validates, those that can run finish in mock mode, and every other file of
pipeline_ex's repository is listed in the migration guide with the reason it is refused."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import rillet
from corpus_inputs import inputs_of, needs_parent, parent_workflow, run_options
from rillet.workflow.loader import load_workflow

CORPUS = Path(__file__).parent / "pipeline_ex"
GUIDE = Path(__file__).parents[2] / "docs" / "migration-from-pipeline-ex.md"

ALL_FILES = [line for line in (CORPUS / "MANIFEST").read_text().splitlines()
             if line and not line.startswith("#")]
COPIED = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.yaml"))

# The values a file needs from its caller: corpus_inputs.py, shared with measure_corpus.py.
# Files that validate but cannot run here, and why (the guide's table says the same).
NOT_RUN = {
    "ai_project_innovation_pipeline.yaml": "reads prompt files that are not in the repository",
    "research_paper_improvement_gemini_pro_delayed.yaml": "reads ../research_papers/…, "
                                                          "outside the repository",
    "research_paper_improvement_pipeline.yaml": "reads ../research_papers/…, outside the "
                                                "repository",
    "research_paper_improvement_native_loop.yaml": "reads ../research_papers/…, outside "
                                                   "the repository",
    "examples/performance_demo.yaml": "reads examples/test_data.txt, which is not in the "
                                      "repository",
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
async def test_pipeline_ex_file_runs_in_mock_mode(path, tmp_path, monkeypatch):
    # A copy: checkpoints and relative files go to the temporary folder, not the repository.
    # Run from its root, as pipeline_ex's users did (`mix pipeline.run examples/x.yaml`):
    # prompt files such as ./lib/pipeline/config.ex are found there (copied from pipeline_ex).
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    monkeypatch.chdir(corpus)
    target, inputs = corpus / path, inputs_of(path)
    if needs_parent(path):  # a nested-pipeline fixture: run as its parent runs it
        target, inputs = corpus / "parent.yaml", {}
        target.write_text(parent_workflow(path), encoding="utf-8")
    result = await rillet.run_async(target, mode="mock", output_dir=tmp_path / "out",
                                    workspace_dir=tmp_path / "ws", inputs=inputs,
                                    **run_options(path))
    assert result.status == "completed", result.error
    assert all(r.success for r in result.results.values())
    return result


async def test_data_transform_example_transforms_the_scripted_data(tmp_path, monkeypatch):
    """Its mock script (pipeline_ex_scripts/) answers the first step with sample JSON, and
    the data_transform steps really filter, join, group, average and map it."""
    result = await test_pipeline_ex_file_runs_in_mock_mode(
        "examples/data_transform_example.yaml", tmp_path, monkeypatch)
    orders = result["filter_high_value_orders"].data
    assert [o["id"] for o in orders] == [3, 7, 1, 9, 4]  # completed, over 100, by total
    enriched = result["enrich_orders_with_users"].data
    assert [(o["user_id"], o["name"], o["tier"]) for o in enriched][:2] == [
        (3, "Cleo", "gold"), (2, "Ben", "silver")]
    assert sorted(result["group_by_user_tier"].data) == ["bronze", "gold", "silver"]
    assert float(result["calculate_tier_stats"].text) == pytest.approx((420.5 + 250 + 130) / 3)
    premium = result["categorize_products"].data
    assert [(p["name"], p["category"]) for p in premium] == [
        ("Tablet", "tech"), ("Headphones", "tech"), ("Sneakers", "fashion"),
        ("Novel", "media"), ("Charger", "tech")]


async def test_working_genesis_runs_with_its_example_name_empty(tmp_path, monkeypatch):
    """`{{first_step.output}}` is example text in its prompt: with unset_names="empty" (its
    entry in corpus_inputs.py) it renders as nothing, and the run records one warning."""
    result = await test_pipeline_ex_file_runs_in_mock_mode("working_genesis.yaml", tmp_path,
                                                         monkeypatch)
    assert [w for w in result.warnings if "'first_step'" in w] == result.warnings
    assert len(result.warnings) == 1
    strict = await rillet.run_async(CORPUS / "working_genesis.yaml", mode="mock",
                                    output_dir=tmp_path / "strict", workspace_dir=tmp_path / "ws",
                                    inputs=inputs_of("working_genesis.yaml"))
    assert strict.status == "failed" and "'first_step' is not set" in strict.error


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
