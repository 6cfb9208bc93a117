"""What the benchmark's memory scenario relies on, pinned without timing: a long stream
keeps its text in a few large strings, not one object per delta, and joining the pieces
never changes the text (retries included)."""

from __future__ import annotations

from rillet.events import MessageComplete, ResponseComplete, StreamRetry, TextDelta, ThinkingDelta
from rillet.streaming import response as response_module
from rillet.streaming.response import AsyncResponse

FINAL = ResponseComplete("s", model="m", stop_reason="end_turn", input_tokens=1,
                         output_tokens=1)


async def source(events):
    for event in events:
        yield event


async def test_a_long_stream_keeps_a_few_joined_strings_not_one_per_delta():
    deltas = 100_000
    events = [TextDelta("s", f"w{i} ") for i in range(deltas)] + [FINAL]
    response = AsyncResponse("s", source(events))
    result = await response.collect()
    assert result.text == "".join(f"w{i} " for i in range(deltas))
    assert result.metrics["deltas"] == deltas
    # Joined runs of JOIN_EVERY pieces, then fewer than JOIN_EVERY pieces not yet joined.
    every = response_module.JOIN_EVERY
    assert len(response._text) < deltas // every + every
    assert len(response._text) < deltas // 10


async def test_a_retry_after_many_joins_keeps_finished_messages_and_drops_the_void_one():
    every = response_module.JOIN_EVERY
    first = [TextDelta("s", "a") for _ in range(every + 7)]
    void = [TextDelta("s", "x") for _ in range(2 * every + 3)]
    again = [TextDelta("s", "b") for _ in range(5)]
    events = [*first, MessageComplete("s", "tool_use"), *void, StreamRetry("s", 1, "dropped"),
              *again, FINAL]
    response = AsyncResponse("s", source(events))
    result = await response.collect()
    assert result.text == "a" * (every + 7) + "b" * 5
    assert result.metrics["text_chars"] == every + 12
    assert response.metrics.retries == 1


async def test_long_thinking_is_joined_too_and_comes_back_whole():
    count = 3 * response_module.JOIN_EVERY + 1
    events = [ThinkingDelta("s", "t") for _ in range(count)] + [TextDelta("s", "done"), FINAL]
    response = AsyncResponse("s", source(events))
    result = await response.collect()
    assert result.thinking == "t" * count and result.text == "done"
    assert len(response._thinking) <= 4
