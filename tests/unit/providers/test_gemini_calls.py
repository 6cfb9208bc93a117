"""The loop of a Gemini step with functions (providers/gemini/calls.py), driven with the
simulator's chunks in the SDK's shape: the turns it sends, the ids it keeps, what a
function's failure or odd return value becomes, and that closing it stops the calls."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rillet.events import ResponseComplete, TextDelta, ToolResult, ToolUse, Usage
from rillet.providers.base import ModelRequest
from rillet.providers.gemini.calls import Outcome, gemini_events
from rillet.providers.gemini.events import wire_chunk


def chunk(*parts: dict[str, Any], finish: bool = True, prompt: int = 5) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if finish:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate], "modelVersion": "gemini-sim",
            "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": 2}}


class Turns:
    """Records the turns the loop writes; a conversation as plain tuples."""

    def __init__(self) -> None:
        self.responses: list[list[Outcome]] = []

    def opening(self, prompt: str) -> list[Any]:
        return [("user", prompt)]

    def model_turn(self, parts: list[Any]) -> Any:
        return ("model", [part.wire for part in parts])

    def response_turn(self, outcomes: list[Outcome]) -> Any:
        self.responses.append(outcomes)
        return ("user", [o.response for o in outcomes])


class Model:
    """Answers request n with `replies[n]`, recording the contents each request sent."""

    def __init__(self, *replies: list[dict[str, Any]]):
        self.replies = replies
        self.sent: list[list[Any]] = []

    async def __call__(self, contents: list[Any], attempt: int) -> AsyncIterator[Any]:
        self.sent.append(contents)
        for item in self.replies[len(self.sent) - 1]:
            yield wire_chunk(item)


def request(code: dict[str, Any], rounds: int = 5) -> ModelRequest:
    return ModelRequest(step="g", prompt="go", functions=[{"name": "f", "parameters": {}}],
                        function_code=code, max_function_rounds=rounds)


async def events_of(model: Model, turns: Turns, code: dict[str, Any]) -> list[Any]:
    return [e async for e in gemini_events(request(code), model, turns, retries=0)]


async def test_the_models_call_id_is_kept_and_sent_back_with_the_response():
    model = Model([chunk({"functionCall": {"id": "call-7", "name": "f", "args": {"n": 2}}})],
                  [chunk({"text": "four"}, prompt=9)])
    turns = Turns()
    events = await events_of(model, turns, {"f": lambda n: n * 2})
    assert [(e.tool_use_id, e.input) for e in events if type(e) is ToolUse] == [
        ("call-7", {"n": 2})]
    assert [(e.tool_use_id, e.content) for e in events if type(e) is ToolResult] == [
        ("call-7", "4")]
    assert turns.responses[0][0].call_id == "call-7"
    assert model.sent[1] == [("user", "go"), ("model", [
        {"functionCall": {"id": "call-7", "name": "f", "args": {"n": 2}}}]),
        ("user", [{"output": 4}])]
    final = events[-1]
    assert type(final) is ResponseComplete
    assert (final.input_tokens, final.output_tokens, final.num_turns) == (14, 4, 2)
    # Running totals: the second request's figures come on top of the first's.
    assert [u.input_tokens for u in events if type(u) is Usage][-1] == 14
    assert "".join(e.text for e in events if type(e) is TextDelta) == "four"


@pytest.mark.parametrize(("function", "args", "content", "response"), [
    (lambda: None, {}, "null", {"output": None}),
    (lambda n: datetime.date(2026, 1, n), {"n": 2}, "2026-01-02", {"output": "2026-01-02"}),
    (lambda n: {"when": datetime.date(2026, 1, n)}, {"n": 3}, '{"when": "2026-01-03"}',
     {"output": {"when": "2026-01-03"}}),
    (lambda m: m, {"n": 2}, "TypeError: <lambda>() got an unexpected keyword argument 'n'",
     {"error": "TypeError: <lambda>() got an unexpected keyword argument 'n'"}),
])
async def test_what_a_function_gives_back_is_json_or_its_error(function, args, content,
                                                              response):
    model = Model([chunk({"functionCall": {"name": "f", "args": args}})], [chunk({"text": "ok"})])
    turns = Turns()
    events = await events_of(model, turns, {"f": function})
    [result] = [e for e in events if type(e) is ToolResult]
    assert (result.content, result.is_error) == (content, "error" in response)
    assert turns.responses[0][0].response == response


async def test_closing_the_stream_after_one_result_cancels_the_call_still_running():
    cancelled = asyncio.Event()

    async def lookup(n: int) -> int:
        if n == 1:
            return n
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return n

    model = Model([chunk({"functionCall": {"name": "f", "args": {"n": 1}}},
                         {"functionCall": {"name": "f", "args": {"n": 2}}})],
                  [chunk({"text": "never"})])
    stream = gemini_events(request({"f": lookup}), model, Turns(), retries=0)
    async for event in stream:
        if type(event) is ToolResult:  # the fast call's; the slow one is still running
            break
    await stream.aclose()
    await asyncio.wait_for(cancelled.wait(), 1)
    assert len(model.sent) == 1  # no second request


async def test_a_call_of_a_function_nobody_declared_is_answered_with_an_error():
    model = Model([chunk({"functionCall": {"name": "f", "args": {"n": 1}}},
                         {"functionCall": {"name": "made_up", "args": {}}})],
                  [chunk({"text": "sorry"})])
    turns = Turns()
    events = await events_of(model, turns, {"f": lambda n: n})
    assert [(e.content, e.is_error) for e in events if type(e) is ToolResult] == [
        ("1", False),
        ("LookupError: no function named 'made_up' is declared for this step", True)]
    assert len(model.sent) == 2 and events[-1].output is None


async def test_a_call_of_a_declared_function_without_implementation_ends_the_step():
    model = Model([chunk({"functionCall": {"name": "f", "args": {"n": 1}}},
                         {"functionCall": {"name": "rate", "args": {"score": 3}}})])
    request_ = dataclasses.replace(request({"f": lambda n: n}), functions=[
        {"name": "f", "parameters": {}}, {"name": "rate", "parameters": {}}])
    events = [e async for e in gemini_events(request_, model, Turns(), retries=0)]
    assert not any(type(e) is ToolResult for e in events)  # neither call runs
    assert len(model.sent) == 1
    assert events[-1].output == {"n": 1}  # pipeline_ex: the first call's arguments
