"""Live mode takes each SDK's standard settings from the environment, so pointing rillet at
any compatible server (here the simulator) needs nothing else."""

from __future__ import annotations

import textwrap

import pytest

import rillet
from rillet.events import StepStarted
from rillet.sim.script import Script, Timing

pytestmark = pytest.mark.sdk

FLOW = """
workflow:
  name: live-by-environment
  steps:
    - name: api
      type: claude
      provider: anthropic_api
      prompt: "Summarise the benefits of small releases"
    - name: gem
      type: gemini
      prompt: "Review this code for bugs"
    - name: agent
      type: claude
      claude_options: {max_turns: 1}
      prompt: "Plan a short blog post about rivers"
"""


async def test_live_mode_reads_the_sdks_standard_environment(sim_factory, tmp_path,
                                                             monkeypatch):
    sim = await sim_factory(Script.default().model_copy(update={"timing": Timing(
        pattern="chunked")}))
    for name, value in {"ANTHROPIC_API_KEY": "live-key", "GEMINI_API_KEY": "live-key",
                        "ANTHROPIC_BASE_URL": sim.base_url,
                        "GOOGLE_GEMINI_BASE_URL": sim.base_url,
                        "HOME": str(tmp_path / "home")}.items():  # the CLI's own files
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(FLOW))
    started: list[StepStarted] = []

    class Starts:
        def on_event(self, event):
            if type(event) is StepStarted:
                started.append(event)

    result = await rillet.run_async(flow, mode="live", quiet=True, listeners=[Starts()],
                                    output_dir=tmp_path / "out", workspace_dir=tmp_path / "ws")

    assert result.success, result.error
    assert [(e.step, e.provider) for e in started] == [
        ("api", "anthropic_api"), ("gem", "gemini"), ("agent", "claude_agent")]
    for step in ("api", "gem", "agent"):
        prompt = {"api": "Summarise the benefits of small releases",
                  "gem": "Review this code for bugs",
                  "agent": "Plan a short blog post about rivers"}[step]
        assert result[step].text == sim.script.reply_for(prompt).text
    # Every request reached the simulator, with the key from the environment (in the
    # header each SDK chooses for it).
    paths = [r.path for r in sim.requests]
    assert any(p.startswith("/v1/messages") for p in paths)
    assert any("streamGenerateContent" in p for p in paths)
    for recorded in sim.requests:
        keys = {v for k, v in recorded.headers.items()
                if k.lower() in ("x-api-key", "x-goog-api-key", "authorization")}
        assert keys & {"live-key", "Bearer live-key"}, recorded.headers
