"""AnthropicAPIProvider's own logic: the request it sends, the attempt loop (retry of a
dropped stream, incomplete streams, closing), and error mapping. The real SDK runs here
over an in-memory HTTP transport; against the simulator in
tests/integration/test_anthropic_api_sdk.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2
import pytest

from rillet.errors import ProviderError, StreamIncompleteError
from rillet.events import MessageComplete, ResponseComplete, StreamRetry, TextDelta, Usage
from rillet.providers.anthropic_api.provider import (
    DEFAULT_MAX_TOKENS, DEFAULT_MODEL, AnthropicAPIProvider, request_params, status_error,
    translated_attempts,
)
from rillet.providers.attempts import StreamDropped
from rillet.providers.base import ModelRequest
from rillet.streaming.response import AsyncResponse


def request(**options: Any) -> ModelRequest:
    return ModelRequest(step="s", prompt="Say hi", options=options)


def start(input_tokens: int = 3) -> dict[str, Any]:
    return {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}


def text(piece: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": piece}}


BLOCK = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
END = [{"type": "content_block_stop", "index": 0},
       {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 2}},
       {"type": "message_stop"}]
WHOLE = [start(), BLOCK, text("Hi"), text(" there"), *END]


# --- the request ----------------------------------------------------------------------------


def test_defaults_fill_model_and_max_tokens():
    assert request_params(request()) == {
        "model": DEFAULT_MODEL, "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "Say hi"}]}


def test_options_map_to_the_apis_fields():
    params = request_params(ModelRequest(
        step="s", prompt="p", model="claude-opus-4-1", system_prompt="Be brief.",
        options={"max_tokens": 300, "temperature": 0.2, "top_k": 5, "stop_sequences": "END",
                 "thinking": 1024}))
    assert params["model"] == "claude-opus-4-1" and params["max_tokens"] == 300
    assert params["system"] == "Be brief."
    assert params["stop_sequences"] == ["END"]
    assert params["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    # The SDK no longer takes sampling arguments; they travel in the body.
    assert params["extra_body"] == {"temperature": 0.2, "top_k": 5}


@pytest.mark.parametrize(("value", "expected"), [
    (True, {"type": "adaptive"}), (False, {"type": "disabled"}),
    ({"type": "enabled", "budget_tokens": 2000}, {"type": "enabled", "budget_tokens": 2000})])
def test_thinking_forms(value, expected):
    assert request_params(request(thinking=value))["thinking"] == expected


def test_system_prompt_option_is_used_when_the_request_has_none():
    assert request_params(request(system_prompt="Terse."))["system"] == "Terse."


@pytest.mark.parametrize(("options", "message"), [
    ({"max_turns": 2}, "option 'max_turns' is not one the Anthropic Messages API provider"),
    ({"thinking": "lots"}, "thinking must be")])
def test_bad_options_are_errors(options, message):
    with pytest.raises(ProviderError, match=message) as info:
        request_params(request(**options))
    assert info.value.kind == "invalid_request"


# --- the attempt loop ---------------------------------------------------------------------


class Attempts:
    """Scripted attempts: a list of events per attempt; a trailing "drop" breaks it."""

    def __init__(self, *attempts: list[Any]):
        self.attempts = attempts
        self.opened = 0
        self.closed = 0

    async def __call__(self, number: int) -> AsyncIterator[dict[str, Any]]:
        self.opened += 1
        try:
            for item in self.attempts[number]:
                if item == "drop":
                    raise StreamDropped("peer closed connection")
                yield item
        finally:
            self.closed += 1


async def run(attempts: Attempts, retries: int = 2) -> list[Any]:
    return [e async for e in translated_attempts(request(), attempts, retries=retries)]


async def test_a_whole_stream_ends_with_the_response_complete():
    events = await run(Attempts(WHOLE))
    assert [type(e) for e in events] == [Usage, TextDelta, TextDelta, Usage, MessageComplete,
                                         ResponseComplete]
    final = events[-1]
    assert (final.model, final.stop_reason, final.input_tokens, final.output_tokens) == (
        "claude-x", "end_turn", 3, 2)


async def test_a_dropped_attempt_is_voided_and_sent_again():
    attempts = Attempts([start(), BLOCK, text("Hi"), "drop"], WHOLE)
    response = AsyncResponse("s", translated_attempts(request(), attempts, retries=2))
    events = [e async for e in response]
    (retry,) = [e for e in events if type(e) is StreamRetry]
    assert "peer closed connection" in retry.reason
    assert response.result().text == "Hi there"
    assert response.result().input_tokens == 3  # the broken attempt is not counted
    assert attempts.opened == 2 and attempts.closed == 2


async def test_a_drop_before_any_text_needs_no_retry_event():
    events = await run(Attempts([start(), "drop"], WHOLE))
    assert not any(type(e) is StreamRetry for e in events)
    assert type(events[-1]) is ResponseComplete


async def test_drops_past_the_retries_are_a_network_error():
    attempts = Attempts(*([[start(), BLOCK, text("Hi"), "drop"]] * 3))
    seen: list[Any] = []
    with pytest.raises(ProviderError) as info:
        async for event in translated_attempts(request(), attempts, retries=2):
            seen.append(event)
    assert info.value.kind == "network" and "dropped mid-stream for step 's'" in str(info.value)
    assert attempts.opened == 3
    assert [e.text for e in seen if type(e) is TextDelta] == ["Hi"] * 3


async def test_a_stream_without_message_stop_is_incomplete():
    with pytest.raises(StreamIncompleteError, match="without its final message_stop"):
        await run(Attempts([start(), BLOCK, text("Hi"), *END[:2]]))


async def test_an_error_event_mid_stream_is_raised_with_its_kind():
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    with pytest.raises(ProviderError, match="busy") as info:
        await run(Attempts([start(), BLOCK, text("Hi"), error]))
    assert info.value.kind == "overloaded"


async def test_closing_the_stream_closes_the_attempt():
    attempts = Attempts(WHOLE)
    stream = translated_attempts(request(), attempts)
    async for event in stream:
        if type(event) is TextDelta:
            break
    await stream.aclose()
    assert attempts.closed == 1


@pytest.mark.parametrize(("status", "kind", "advice"), [
    (401, "auth", "ANTHROPIC_API_KEY"), (403, "auth", "ANTHROPIC_API_KEY"),
    (429, "rate_limit", "wait and try again"), (529, "overloaded", "try again later"),
    (400, "invalid_request", "model and options"), (500, "api", "HTTP 500")])
def test_status_errors_say_what_happened_and_what_to_do(status, kind, advice):
    error = status_error("s", status, "detail")
    assert error.kind == kind and error.status == status
    assert advice in str(error) and "'s'" in str(error)


# --- the real SDK over an in-memory transport ----------------------------------------------


def sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def provider_answering(body: bytes, seen: list[Any]) -> AnthropicAPIProvider:
    def handler(http_request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(http_request.content))
        return httpx2.Response(200, headers={"content-type": "text/event-stream"},
                               content=body)

    provider = AnthropicAPIProvider(mode="sim", base_url="http://sim")
    provider._new_client = lambda base_url, step: anthropic.AsyncAnthropic(
        base_url="http://sim", api_key="k",
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)))
    return provider


async def test_the_sdk_sends_the_options_and_streams_the_events():
    seen: list[Any] = []
    provider = provider_answering(sse(WHOLE), seen)
    req = ModelRequest(step="s", prompt="Say hi", system_prompt="Be brief.",
                       options={"temperature": 0.5, "max_tokens": 50})
    events = [e async for e in provider.stream(req)]
    await provider.aclose()
    assert "".join(e.text for e in events if type(e) is TextDelta) == "Hi there"
    assert type(events[-1]) is ResponseComplete
    (body,) = seen
    assert body["stream"] is True and body["temperature"] == 0.5 and body["max_tokens"] == 50
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "Say hi"}]


async def test_the_sdk_stream_ending_early_is_incomplete_with_the_text_kept():
    provider = provider_answering(sse([start(), BLOCK, text("Hi")]), [])
    response = AsyncResponse("s", provider.stream(request()))
    with pytest.raises(StreamIncompleteError):
        [e async for e in response]
    await provider.aclose()
    assert response.text == "Hi"


async def test_an_unreachable_api_is_a_network_error_naming_the_url():
    def refuse(http_request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused")

    provider = AnthropicAPIProvider(mode="sim", base_url="http://sim")
    provider._new_client = lambda base_url, step: anthropic.AsyncAnthropic(
        base_url="http://sim", api_key="k", max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(refuse)))
    with pytest.raises(ProviderError, match="could not reach the Anthropic API at http://sim"
                       ) as info:
        [e async for e in provider.stream(request())]
    await provider.aclose()
    assert info.value.kind == "network"


async def test_a_read_error_mid_stream_is_retried_with_the_text_voided():
    calls = 0

    class Broken(httpx2.AsyncByteStream):
        async def __aiter__(self):
            yield sse([start(), BLOCK, text("Hi")])
            raise httpx2.ReadError("connection reset")

    def handler(http_request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        content: Any = Broken() if calls == 1 else sse(WHOLE)
        return httpx2.Response(200, headers={"content-type": "text/event-stream"},
                               stream=content if calls == 1 else None,
                               content=None if calls == 1 else content)

    provider = AnthropicAPIProvider(mode="sim", base_url="http://sim")
    provider._new_client = lambda base_url, step: anthropic.AsyncAnthropic(
        base_url="http://sim", api_key="k",
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)))
    response = AsyncResponse("s", provider.stream(request()))
    events = [e async for e in response]
    await provider.aclose()
    (retry,) = [e for e in events if type(e) is StreamRetry]
    assert "ReadError: connection reset" in retry.reason
    assert response.result().text == "Hi there" and calls == 2
