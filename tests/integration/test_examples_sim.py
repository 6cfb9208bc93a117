"""The showcase and the streaming example through the real SDKs on the simulator: the
Claude Agent SDK with its bundled CLI, the anthropic SDK and google-genai."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import rillet
from rillet.cli import app
from rillet.events import StepStarted, TextDelta
from rillet.sim.script import Script, Timing

pytestmark = pytest.mark.sdk

EXAMPLES = Path(__file__).parents[2] / "examples"


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.events: list = []

    def on_event(self, event) -> None:
        self.events.append(event)


def test_showcase_streams_every_provider_through_the_real_sdks(tmp_path):
    # The built-in script's replies, paced fast so the five steps take seconds.
    script = Script.default().model_copy(update={"timing": Timing(pattern="chunked")})
    recorder = Recorder()
    result = rillet.run(EXAMPLES / "showcase.yaml", mode="sim", script=script, quiet=True,
                        output_dir=tmp_path / "out", workspace_dir=tmp_path / "ws",
                        listeners=[recorder])

    assert result.success, result.error
    providers = {e.step: e.provider for e in recorder.events if type(e) is StepStarted}
    assert providers == {"outline": "claude_agent", "draft": "claude_agent",
                         "critique": "gemini", "measure": None, "polish": "anthropic_api"}
    for step in ("outline", "draft", "critique", "polish"):
        deltas = [e.text for e in recorder.events if type(e) is TextDelta and e.step == step]
        assert len(deltas) > 5, step  # streamed in pieces, not in one block
        assert "".join(deltas) == result[step].text
        assert result[step].output_tokens > 0 and result[step].cost_usd > 0
    assert result["outline"].text.startswith('Outline: "Stream it')
    assert result["measure"].variables["draft_words"] == len(result["draft"].text.split())
    assert (tmp_path / "out" / "showcase" / "draft.md").read_text() == result["draft"].text
    assert (tmp_path / "out" / "showcase" / "summary.md").read_text() == result["polish"].text


def test_the_streaming_example_runs_through_the_claude_cli_with_no_key(tmp_path):
    outcome = CliRunner().invoke(app, [
        "run", str(EXAMPLES / "claude_streaming_example.yaml"), "--mode", "sim",
        "--output-dir", str(tmp_path / "out"), "--workspace-dir", str(tmp_path / "ws")])

    assert outcome.exit_code == 0, outcome.output
    assert "the Claude Agent SDK and its bundled CLI" in outcome.output
    assert "streaming" in outcome.output.lower()
    assert "✓ done" in outcome.output
    assert list((tmp_path / "out").glob("*/results.json"))
