"""AsyncResponse: lazy, single pass, keeps the text, measures from real clock readings."""

from __future__ import annotations

import asyncio

import pytest

from rillet.errors import StepError, StreamConsumedError
from rillet.events import MessageComplete, ResponseComplete, StreamRetry, TextDelta, ThinkingDelta, \
    ToolResult, ToolUse, Usage
from rillet.streaming.metrics import StreamMetrics
from rillet.streaming.response import AsyncResponse


async def source(events, delay=0.0):
    for event in events:
        if delay:
            await asyncio.sleep(delay)
        yield event


FINAL = ResponseComplete("s", model="m", stop_reason="end_turn", input_tokens=7,
                         output_tokens=3, cost_usd=0.5, session_id="sess", num_turns=1)


async def test_collect_returns_the_real_text_and_final_figures():
    events = [TextDelta("s", "Hello "), ThinkingDelta("s", "hmm"), TextDelta("s", "world"),
              Usage("s", 7, 3), FINAL]
    result = await AsyncResponse("s", source(events)).collect()
    assert result.text == "Hello world"
    assert result.thinking == "hmm"
    assert (result.input_tokens, result.output_tokens, result.cost_usd) == (7, 3, 0.5)
    assert result.session_id == "sess" and result.status == "completed"
    assert result.metrics["deltas"] == 3 and result.metrics["text_chars"] == 11


async def test_nothing_runs_until_iterated_and_only_once():
    started = []

    async def lazy():
        started.append(True)
        yield FINAL

    response = AsyncResponse("s", lazy())
    assert started == []
    [event async for event in response]
    assert started == [True]
    with pytest.raises(StreamConsumedError):
        aiter(response)


async def test_a_retry_restarts_the_text_so_nothing_appears_twice():
    events = [TextDelta("s", "Hel"), StreamRetry("s", 1, "dropped"), TextDelta("s", "Hello"),
              FINAL]
    response = AsyncResponse("s", source(events))
    result = await response.collect()
    assert result.text == "Hello"
    assert response.metrics.retries == 1


async def test_a_retry_in_a_later_message_keeps_the_text_of_finished_messages():
    # A tool-using step: the first message ended before the tool ran; only the second
    # message, cut off mid-stream, comes again.
    events = [TextDelta("s", "Let me look. "), ThinkingDelta("s", "plan"),
              MessageComplete("s", "tool_use"), ToolUse("s", "t1", "Read", {}),
              ToolResult("s", "t1", "contents"), TextDelta("s", "It sa"),
              ThinkingDelta("s", "again"), StreamRetry("s", 1, "dropped"),
              TextDelta("s", "It says hi."), FINAL]
    response = AsyncResponse("s", source(events))
    result = await response.collect()
    assert result.text == "Let me look. It says hi."
    assert result.thinking == "plan"
    assert result.metrics["text_chars"] == len("Let me look. It says hi.")


async def test_a_stream_without_a_final_result_is_an_error_keeping_the_partial_text():
    response = AsyncResponse("s", source([TextDelta("s", "half an ans")]))
    with pytest.raises(StepError, match="without a final result") as info:
        await response.collect()
    assert info.value.partial_text == "half an ans"


async def test_a_final_result_marked_as_error_fails_the_step():
    bad = ResponseComplete("s", is_error=True, error="overloaded")
    with pytest.raises(StepError, match="overloaded") as info:
        await AsyncResponse("s", source([TextDelta("s", "x"), bad])).collect()
    assert info.value.partial_text == "x"


async def test_tool_results_attach_to_their_tool_use():
    events = [ToolUse("s", "t1", "Bash", {"command": "ls"}), ToolResult("s", "t1", "a.txt"),
              FINAL]
    result = await AsyncResponse("s", source(events)).collect()
    assert result.tool_uses == [{"id": "t1", "name": "Bash", "input": {"command": "ls"},
                                 "result": "a.txt", "is_error": False}]


async def test_closing_early_marks_interrupted_and_closes_the_source():
    closed = []

    async def endless():
        try:
            while True:
                yield TextDelta("s", "x")
                await asyncio.sleep(0)
        finally:
            closed.append(True)

    response = AsyncResponse("s", endless())
    async for _ in response:
        if response.metrics.deltas == 3:
            break
    await response.aclose()
    assert closed == [True]
    assert response.metrics.interrupted
    with pytest.raises(StepError, match="interrupted") as info:
        response.result()
    assert info.value.partial_text == "xxx"


async def test_time_to_first_token_and_gaps_come_from_the_clock():
    events = [TextDelta("s", "a"), TextDelta("s", "b"), TextDelta("s", "c"), FINAL]
    response = AsyncResponse("s", source(events, delay=0.02))
    result = await response.collect()
    metrics = result.metrics
    assert 0.015 <= metrics["ttft_s"] < 0.5
    assert 0.015 <= metrics["gap_mean_s"] < 0.5
    assert metrics["gap_max_s"] >= metrics["gap_mean_s"]
    assert metrics["duration_s"] >= metrics["ttft_s"] + 0.03


def test_gap_histogram_percentiles_are_bucket_upper_bounds():
    m = StreamMetrics()
    for _ in range(99):
        m.record_gap(0.000_003)  # 3 µs -> bucket 2 (up to 4 µs)
    m.record_gap(0.5)
    assert m.gap_percentile_s(0.5) == 4 / 1_000_000
    assert m.gap_percentile_s(1.0) == (1 << (500_000).bit_length()) / 1_000_000
    assert m.max_gap_s == 0.5


def test_tokens_per_second_needs_reported_tokens_never_guesses():
    m = StreamMetrics(started_at=0.0, first_token_at=1.0, ended_at=3.0, deltas=40)
    assert m.tokens_per_second is None
    m.output_tokens = 100
    assert m.tokens_per_second == 50.0
    m.deltas = 1  # one delta: the span is only the time it took to read it
    assert m.tokens_per_second is None
    assert m.ttft_s == 1.0 and m.duration_s == 3.0
