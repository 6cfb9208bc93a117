"""What scenario 5 relies on, pinned without timing or a real CLI: while a Claude step
streams, the executor warms the next Claude step's session even when that step's prompt
takes the streaming step's answer (the session needs the options, not the prompt), and
the step itself still gets the full prompt."""

from __future__ import annotations

import pytest


import rillet
from bench.paths import prebuilt_events, replay, step_yaml, synthetic_provider, workflow
from rillet.providers import registry


@pytest.fixture
def warmed(monkeypatch):
    calls: list = []

    async def record(self, request, kind):
        calls.append((request.step, kind, request.model, request.options))

    monkeypatch.setattr(registry.ProviderPool, "prewarm", record)
    return calls


def chain() -> object:
    return workflow("chain", [
        step_yaml("outline", "chain outline", provider="claude_agent", mode="sim"),
        step_yaml("draft", "chain draft", provider="claude_agent", mode="sim",
                  previous="outline"),
    ])


async def test_next_step_is_warmed_although_its_prompt_needs_the_current_answer(
        warmed, tmp_path):
    prompts = {}

    def stream(request):
        prompts[request.step] = request.prompt
        return replay(prebuilt_events(request.step, 3, piece=f"{request.step} "))

    with synthetic_provider(stream):
        result = await rillet.run_async(chain(), mode="sim", sim_base_url="http://127.0.0.1:9",
                                        output_dir=tmp_path / "out",
                                        workspace_dir=tmp_path / "ws", telemetry=False)
    assert result.success, result.error
    assert [(step, kind) for step, kind, _, _ in warmed] == [("draft", "claude_agent")]
    assert warmed[0][2] == "claude-sonnet-4-5" and warmed[0][3] == {"max_turns": 1}
    # The warm-up left the real prompt alone: the step got the earlier answer in full.
    assert prompts["draft"] == "chain draft\n\n" + "outline " * 3


async def test_without_prewarm_nothing_is_warmed(warmed, tmp_path):
    with synthetic_provider(lambda request: replay(prebuilt_events(request.step, 2))):
        result = await rillet.run_async(chain(), mode="sim", sim_base_url="http://127.0.0.1:9",
                                        prewarm=False, output_dir=tmp_path / "out",
                                        workspace_dir=tmp_path / "ws", telemetry=False)
    assert result.success and warmed == []
