"""Every example in examples/ runs in mock mode, and writes what its comments promise."""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import re
import sys
from pathlib import Path

import pytest

from doc_blocks import ROOT


import rillet  # noqa: E402
from rillet.events import StepStarted, TextDelta  # noqa: E402

EXAMPLES = ROOT / "examples"


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.events: list = []

    def on_event(self, event) -> None:
        self.events.append(event)

    def text(self, step: str) -> str:
        return "".join(e.text for e in self.events if type(e) is TextDelta and e.step == step)


@pytest.fixture
def run_example(tmp_path: Path, monkeypatch):
    """Run examples/NAME in mock mode from a temporary folder. Loading it makes examples/
    importable (modules beside a workflow are found by dotted path)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # what the loader appends is undone

    def run(name: str, **options):
        recorder = Recorder()
        stdout = io.StringIO()
        result = rillet.run(EXAMPLES / name, mode="mock", output_dir=tmp_path / "outputs",
                            workspace_dir=tmp_path / "workspace", listeners=[recorder],
                            stdout=stdout, **options)
        return result, recorder, stdout.getvalue(), tmp_path / "outputs"

    return run


def test_every_example_workflow_is_covered_by_a_test():
    tested = {"claude_streaming_example.yaml", "claude_streaming_advanced.yaml",
              "showcase.yaml", "code_review.yaml", "claude_gemini_chain.yaml",
              "stream_to_file_and_callback.yaml", "custom_handler.yaml",
              "parallel_fanout.yaml", "topic_loop.yaml"}
    assert {p.name for p in EXAMPLES.glob("*.yaml")} == tested


def test_streaming_example_streams_to_the_console(run_example):
    result, recorder, stdout, _ = run_example("claude_streaming_example.yaml")

    assert result.success
    text = result["streaming_assistant"].text
    assert len([e for e in recorder.events if type(e) is TextDelta]) > 10
    assert text in stdout  # the console handler wrote it as it arrived


def test_advanced_example_writes_each_handler_file_and_skips_nothing(run_example):
    result, recorder, stdout, out = run_example("claude_streaming_advanced.yaml")

    assert result.success, result.error
    analysis = result["analyse"].text
    assert (out / "advanced" / "analysis.txt").read_text() == analysis
    log = [json.loads(line) for line in
           (out / "advanced" / "analysis.events.jsonl").read_text().splitlines()]
    assert "".join(e["text"] for e in log if e["type"] == "TextDelta") == analysis
    # decide is not streamed: handlers got its text in one piece at the end.
    assert [e.text for e in recorder.events if type(e) is TextDelta
            and e.step == "decide"] == [result["decide"].text]
    assert (out / "advanced" / "report.md").read_text() == result["report"].text
    assert analysis in stdout


def test_showcase_runs_every_step_across_providers(run_example):
    result, recorder, _, out = run_example("showcase.yaml")

    assert result.success, result.error
    assert list(result.results) == ["outline", "draft", "critique", "measure", "polish"]
    providers = {e.step: e.provider for e in recorder.events if type(e) is StepStarted}
    assert providers["critique"] == "gemini" and providers["polish"] == "anthropic_api"
    assert (out / "showcase" / "draft.md").read_text() == result["draft"].text


def test_code_review_reads_the_shipped_file_and_writes_review_and_checklist(run_example,
                                                                           monkeypatch):
    from rillet.providers import registry

    prompts = {}
    original = registry.ProviderPool.open_stream

    def spy(self, request, kind):
        prompts[request.step] = request.prompt
        return original(self, request, kind)

    monkeypatch.setattr(registry.ProviderPool, "open_stream", spy)
    result, _, _, out = run_example("code_review.yaml")

    assert result.success, result.error
    source = (EXAMPLES / "code_review" / "orders.py").read_text()
    assert source in prompts["review"]
    assert "ZeroDivisionError" in result["review"].text  # the built-in script's review
    assert (out / "code_review" / "review.md").read_text() == result["review"].text
    assert result["review"].text in prompts["checklist"]
    checklist = (out / "code_review" / "checklist.md").read_text()
    assert checklist == result["checklist"].text
    assert checklist.startswith("- [ ] Guard `average_order_value`")
    events = next((out / "code_review").glob("*.review.events.jsonl")).read_text()
    assert '"type":"TextDelta"' in events


def test_claude_gemini_chain_passes_each_text_on(run_example, monkeypatch):
    from rillet.providers import registry

    requests = {}
    original = registry.ProviderPool.open_stream

    def spy(self, request, kind):
        requests[request.step] = (kind, request)
        return original(self, request, kind)

    monkeypatch.setattr(registry.ProviderPool, "open_stream", spy)
    result, _, _, out = run_example("claude_gemini_chain.yaml")

    assert result.success, result.error
    assert [requests[s][0] for s in ("draft", "critique", "revise")] == \
        ["claude_agent", "gemini", "anthropic_api"]
    assert requests["critique"][1].model == "gemini-3.5-flash"  # from defaults.gemini_model
    assert result["draft"].text in requests["critique"][1].prompt
    assert result["critique"].text in requests["revise"][1].prompt
    assert (out / "chain" / "final.md").read_text() == result["revise"].text


def test_stream_to_file_and_callback_writes_all_three_sinks(run_example, monkeypatch):
    monkeypatch.delitem(sys.modules, "stream_hooks", raising=False)  # fresh `received`
    result, _, _, out = run_example("stream_to_file_and_callback.yaml")
    hooks = sys.modules["stream_hooks"]  # imported by the run, from beside the workflow

    assert result.success, result.error
    text = result["notes"].text
    assert text.startswith("Version 2.4.0") and "**Dark theme**" in text
    assert (out / "release" / "notes.txt").read_text() == text
    assert "".join(hooks.received["notes"]) == text  # coalesced, never dropped
    log = next((out / "release").glob(f"{result.run_id}.events.jsonl")).read_text()
    types = {json.loads(line)["type"] for line in log.splitlines()}
    assert types == {"StepStarted", "TextDelta", "Usage", "StepCompleted"}


def test_custom_handler_example_reports_progress(run_example, capsys):
    result, _, stdout, out = run_example("custom_handler.yaml")

    assert result.success, result.error
    words = len(result["guide"].text.split())
    report = (out / "guide.progress.txt").read_text()
    assert f"words: {words}" in report and "status: completed" in report
    progress = capsys.readouterr().err
    assert "guide: planning 10 words" in progress
    assert f"guide: completed, {words} words" in progress
    counted = [int(n) for n in re.findall(r"guide: planning (\d+) words", progress)]
    assert counted == sorted(counted) and counted[-1] <= words  # counted as it streamed
    # Each rewrite covers the whole of the line before it: nothing stale is left showing.
    lines = progress.split("\r")[1:]
    for before, after in zip(lines, lines[1:]):
        assert len(after.rstrip("\n")) >= len(before.rstrip("\n")), (before, after)
    assert (out / "guide.md").read_text() == result["guide"].text
    assert stdout == ""  # no console handler: the meter replaces the text


def test_stream_in_python_example_prints_the_text_as_it_arrives(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEST_MODE", "mock")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    module = importlib.import_module("stream_in_python")
    out = io.StringIO()

    assert asyncio.run(module.main(out)) == 0
    printed = out.getvalue()
    document = json.loads(next((tmp_path / "outputs").glob("*/results.json")).read_text())
    for name, step in document["steps"].items():
        assert f"--- {name} (" in printed
        if step["text"]:
            assert step["text"] in printed


def test_examples_validate_with_the_cli(monkeypatch):
    from typer.testing import CliRunner

    from rillet.cli import app

    # As a fresh `rillet validate` sees it: examples/ not on the path, no module imported.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(EXAMPLES)])
    for name in ("progress_handler", "stream_hooks"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    outcome = CliRunner().invoke(app, ["validate", *map(str, sorted(EXAMPLES.glob("*.yaml")))])
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.count("✓") == len(list(EXAMPLES.glob("*.yaml")))


def test_parallel_fanout_runs_three_reviews_at_once_and_a_verdict_of_them(run_example,
                                                                         monkeypatch):
    from rillet.providers import registry

    prompts = {}
    original = registry.ProviderPool.open_stream

    def spy(self, request, kind):
        prompts[request.step] = request.prompt
        return original(self, request, kind)

    monkeypatch.setattr(registry.ProviderPool, "open_stream", spy)
    result, recorder, stdout, out = run_example("parallel_fanout.yaml")

    assert result.success, result.error
    branches = result["review"].children
    assert list(branches) == ["security", "cost", "operations"]
    for name, branch in branches.items():
        assert recorder.text(f"review.{name}") == branch.text
        assert branch.text in prompts["verdict"]
    assert (out / "fanout" / "verdict.md").read_text() == result["verdict"].text


def test_topic_loop_drafts_and_titles_each_topic(run_example, monkeypatch):
    from rillet.providers import registry

    prompts = {}
    original = registry.ProviderPool.open_stream

    def spy(self, request, kind):
        prompts[request.step] = request.prompt
        return original(self, request, kind)

    monkeypatch.setattr(registry.ProviderPool, "open_stream", spy)
    result, recorder, _, _ = run_example("topic_loop.yaml")

    assert result.success, result.error
    iterations = result["explain"].children
    assert len(iterations) == 3
    assert "ocean currents" in prompts["explain[1].draft"]
    for i, iteration in enumerate(iterations):
        assert iteration["draft"].text in prompts[f"explain[{i}].title"]  # its own sibling
        assert recorder.text(f"explain[{i}].title") == iteration["title"].text
    assert result["contents"].variables["titles"] == [it["title"].text for it in iterations]
