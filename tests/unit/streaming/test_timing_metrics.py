"""The timing figures are the product's promise, so each is pinned against the clock the
provider's events really arrived by. Each test here fails for one of the mistakes that
once went unnoticed: time to first token stamped at the first event of any kind (a Usage
or a tool call before the text), stamped late (+20 ms), or reported as 0."""

from __future__ import annotations

import asyncio
from time import perf_counter

import pytest

import rillet
from rillet.events import (
    MessageComplete, ResponseComplete, StepStarted, TextDelta, ThinkingDelta, ToolUse, Usage,
)
from rillet.streaming.response import AsyncResponse
from rillet.workflow.loader import loads_workflow

WAIT_S = 0.12  # before the first token
TOLERANCE_S = 0.005  # far below the 20 ms a late stamp would add


class TimedSource:
    """Events at known times: non-text events at once, the first text after WAIT_S,
    every yield stamped just before it is handed over."""

    def __init__(self, first: type = TextDelta):
        self.first = first
        self.yielded: list[tuple[type, float]] = []

    async def events(self):
        for event in (Usage("s", 12, 0), ToolUse("s", "t1", "search", {"q": "x"})):
            self.yielded.append((type(event), perf_counter()))
            yield event
        await asyncio.sleep(WAIT_S)
        for index, piece in enumerate(("one ", "two ", "three")):
            kind = self.first if index == 0 else TextDelta
            self.yielded.append((kind, perf_counter()))
            yield kind("s", piece)
            await asyncio.sleep(0.01)
        yield Usage("s", 12, 3)
        yield MessageComplete("s", "end_turn")
        self.yielded.append((ResponseComplete, perf_counter()))
        yield ResponseComplete("s", input_tokens=12, output_tokens=3)

    def first_delta_at(self) -> float:
        return next(t for kind, t in self.yielded if kind in (TextDelta, ThinkingDelta))


@pytest.mark.parametrize("first", [TextDelta, ThinkingDelta])
async def test_ttft_is_the_first_text_or_thinking_delta_not_the_first_event(first):
    source = TimedSource(first)
    response = AsyncResponse("s", source.events())
    pulled = perf_counter()
    result = await response.collect()
    ttft = result.metrics["ttft_s"]
    expected = source.first_delta_at() - response.metrics.started_at
    assert response.metrics.started_at - pulled < TOLERANCE_S  # the clock starts at the pull
    assert ttft >= WAIT_S  # not the Usage or tool call that came at once, not 0
    assert ttft == pytest.approx(expected, abs=TOLERANCE_S)  # not stamped late either


async def test_duration_and_rate_come_from_the_same_clock_readings():
    source = TimedSource()
    response = AsyncResponse("s", source.events())
    result = await response.collect()
    m = response.metrics
    first = source.first_delta_at()
    last_text = [t for kind, t in source.yielded if kind is TextDelta][-1]
    assert m.first_token_at == pytest.approx(first, abs=TOLERANCE_S)
    assert m.last_delta_at == pytest.approx(last_text, abs=TOLERANCE_S)
    span = m.ended_at - m.first_token_at
    assert result.metrics["tokens_per_second"] == pytest.approx(3 / span, rel=0.01)
    assert result.metrics["duration_s"] == pytest.approx(m.ended_at - m.started_at, abs=1e-6)


async def test_a_reply_in_one_delta_has_no_rate():
    async def one():
        yield TextDelta("s", "ok")
        yield ResponseComplete("s", output_tokens=1)

    result = await AsyncResponse("s", one()).collect()
    assert result.metrics["ttft_s"] >= 0 and result.metrics["tokens_per_second"] is None


class Stamps:
    name = "stamps"

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.first: dict[str, float] = {}

    def on_event(self, event) -> None:
        if type(event) is StepStarted:
            self.started[event.step] = perf_counter()
        elif type(event) is TextDelta and event.step not in self.first:
            self.first[event.step] = perf_counter()


@pytest.mark.parametrize("provider", ["anthropic_api", "claude_agent", "gemini"])
async def test_a_runs_ttft_matches_when_a_listener_saw_the_first_token(provider, tmp_path):
    kind = "gemini" if provider == "gemini" else "claude"
    extra = "" if provider == "gemini" else f"\n      provider: {provider}"
    flow = loads_workflow(f"""
workflow:
  name: timed
  steps:
    - name: answer
      type: {kind}{extra}
      prompt: "Time me"
      mock:
        text: "A reply long enough to stream in several pieces, one after another."
        timing: {{first_token_delay_s: {WAIT_S}, tokens_per_second: 200, jitter: 0}}
""", source="<test>")
    stamps = Stamps()
    result = await rillet.run_async(flow, mode="mock", listeners=[stamps],
                                    output_dir=tmp_path / "out", workspace_dir=tmp_path / "ws")
    ttft = result["answer"].metrics["ttft_s"]
    seen = stamps.first["answer"] - stamps.started["answer"]
    assert ttft >= WAIT_S
    assert ttft == pytest.approx(seen, abs=TOLERANCE_S)
