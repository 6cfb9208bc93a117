"""The Gemini provider's own logic: request config, chunk translation (the SDK's objects
and the mock's wire-shaped ones give the same events), the attempt loop, errors.
The real SDK against the simulator: tests/integration/test_gemini_sdk.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rillet.errors import ProviderError, StreamIncompleteError
from rillet.events import (
    MessageComplete, ResponseComplete, StreamRetry, TextDelta, ThinkingDelta, ToolUse, Usage,
)
from rillet.providers.attempts import StreamDropped
from rillet.providers.base import ModelRequest
from rillet.providers.gemini.provider import config_params
from rillet.providers.gemini.calls import translated_attempts
from rillet.providers.gemini.events import GeminiChunkTranslator, status_error, wire_chunk
from rillet.sim.gemini_stream import gemini_chunks
from rillet.sim.script import Reply, Timing, ToolCall, count_tokens


def request(system: str | None = None, **options: Any) -> ModelRequest:
    return ModelRequest(step="g", prompt="Say hi", system_prompt=system, options=options)


def test_token_budget_and_system_instruction_become_the_config():
    config = config_params(request("Be brief.", max_output_tokens=200, temperature=0.1,
                                   top_p=0.9, top_k=4, thinking_budget=512))
    assert config == {"max_output_tokens": 200, "temperature": 0.1, "top_p": 0.9, "top_k": 4,
                      "system_instruction": "Be brief.",
                      "thinking_config": {"thinking_budget": 512, "include_thoughts": True}}


def test_a_zero_thinking_budget_asks_for_no_thoughts():
    assert config_params(request(thinking_budget=0))["thinking_config"] == {
        "thinking_budget": 0, "include_thoughts": False}


def test_an_unknown_option_is_an_error():
    with pytest.raises(ProviderError, match="option 'max_tokens'") as info:
        config_params(request(max_tokens=5))
    assert info.value.kind == "invalid_request"


def sim_chunks(reply: Reply) -> list[dict[str, Any]]:
    return [item for _, item in gemini_chunks(reply, model="gemini-x", prompt_tokens=4,
                                              fault=None)]


REPLY = Reply(text="Hello there friend", thinking="Think first",
              tool_use=ToolCall(name="lookup", input={"q": "x"}), timing=Timing(pattern="fast"))


def translate_all(chunks: list[Any]) -> list[Any]:
    translator = GeminiChunkTranslator("g")
    return [event for chunk in chunks for event in translator.translate(chunk)]


def test_thoughts_text_tool_calls_usage_and_finish_become_events():
    events = translate_all([wire_chunk(c) for c in sim_chunks(REPLY)])
    assert "".join(e.text for e in events if type(e) is ThinkingDelta) == "Think first"
    assert "".join(e.text for e in events if type(e) is TextDelta) == "Hello there friend"
    (call,) = [e for e in events if type(e) is ToolUse]
    assert (call.tool_use_id, call.name, call.input) == ("lookup-1", "lookup", {"q": "x"})
    usage = [e for e in events if type(e) is Usage]
    assert usage[0].input_tokens == 4
    # Thoughts count as output, and so does the call's JSON (as the simulator counts it).
    assert usage[-1].output_tokens == 2 + 3 + count_tokens(json.dumps({"q": "x"}))
    assert events[-1] == MessageComplete("g", "STOP", "gemini-x")


def test_the_mocks_wire_chunks_translate_like_the_sdks_own_objects():
    from google.genai import types
    from google.genai.models import _GenerateContentResponse_from_mldev

    raw = sim_chunks(REPLY)
    sdk = [types.GenerateContentResponse._from_response(
        response=_GenerateContentResponse_from_mldev(chunk), kwargs={}) for chunk in raw]
    assert translate_all(sdk) == translate_all([wire_chunk(c) for c in raw])


def test_usage_is_reported_only_when_it_changes():
    chunk = {"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}}],
             "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 0}}
    events = translate_all([wire_chunk(chunk), wire_chunk(chunk)])
    assert events == [Usage("g", 4, 0)]


def test_cached_prompt_tokens_are_reported_apart_from_the_fresh_input():
    # Gemini counts cached tokens inside promptTokenCount; rillet reports them once.
    chunk = {"candidates": [{"content": {"parts": [{"text": "hi"}], "role": "model"}}],
             "usageMetadata": {"promptTokenCount": 1000, "cachedContentTokenCount": 800,
                               "candidatesTokenCount": 1}}
    assert translate_all([wire_chunk(chunk)])[-1] == Usage("g", 200, 1, cache_read_tokens=800)


class Attempts:
    def __init__(self, *attempts: list[Any]):
        self.attempts = attempts
        self.closed = 0

    async def __call__(self, number: int) -> AsyncIterator[Any]:
        try:
            for item in self.attempts[number]:
                if item == "drop":
                    raise StreamDropped("payload not completed")
                yield wire_chunk(item)
        finally:
            self.closed += 1


async def test_a_dropped_attempt_is_voided_then_sent_again():
    whole = sim_chunks(Reply(text="a b c", timing=Timing(pattern="fast")))
    attempts = Attempts([whole[0], "drop"], whole)
    events = [e async for e in translated_attempts(request(), attempts, retries=2)]
    assert [type(e) for e in events].count(StreamRetry) == 1
    after = events[[type(e) for e in events].index(StreamRetry) + 1:]
    assert "".join(e.text for e in after if type(e) is TextDelta) == "a b c"
    assert type(events[-1]) is ResponseComplete and events[-1].output_tokens == 3
    assert attempts.closed == 2


async def test_drops_past_the_retries_are_a_network_error():
    whole = sim_chunks(Reply(text="a b c", timing=Timing(pattern="fast")))
    with pytest.raises(ProviderError, match="dropped mid-stream for step 'g'") as info:
        [e async for e in translated_attempts(request(), Attempts(*[[whole[0], "drop"]] * 2),
                                              retries=1)]
    assert info.value.kind == "network"


async def test_a_stream_without_a_finish_reason_is_incomplete():
    whole = sim_chunks(Reply(text="a b c", timing=Timing(pattern="fast")))
    with pytest.raises(StreamIncompleteError, match="without a finish reason"):
        [e async for e in translated_attempts(request(), Attempts(whole[:-1]), retries=2)]


@pytest.mark.parametrize(("status", "kind"), [
    (401, "auth"), (429, "rate_limit"), (503, "overloaded"), (529, "overloaded"),
    (400, "invalid_request"), (500, "api")])
def test_status_errors_name_the_status_and_the_kind(status, kind):
    error = status_error("g", status, "NAME", "detail", 3)
    assert error.kind == kind and f"HTTP {status} NAME: detail" in str(error)
