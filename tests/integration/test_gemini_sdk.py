"""The Gemini provider end to end: the real `google-genai` SDK against the in-process
simulator (`/v1beta/models/{model}:streamGenerateContent?alt=sse`), and the mock provider
checked against it (same events for the same reply)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from time import perf_counter
from typing import Any

import pytest

from rillet.errors import ProviderError
from rillet.events import (
    MessageComplete, ResponseComplete, StreamRetry, TextDelta, ThinkingDelta, ToolUse, Usage,
)
from rillet.providers.base import ModelRequest
from rillet.providers.clients import aclose_clients
from rillet.providers.gemini import GeminiProvider
from rillet.providers.mock import MockProvider
from rillet.providers.pricing import price_usd
from rillet.providers.registry import ProviderPool
from rillet.sim.script import Script, count_tokens, tokenize
from rillet.streaming.response import AsyncResponse

from fault_rules import STORY, fault_rules  # beside this file

pytestmark = pytest.mark.sdk

MODEL = "gemini-2.5-flash"
def script() -> Script:
    return Script.from_dict({"rules": fault_rules(503)})


@pytest.fixture
async def sim(sim_factory):
    return await sim_factory(script())


@pytest.fixture
async def provider(sim) -> AsyncIterator[GeminiProvider]:
    provider = GeminiProvider(mode="sim", base_url=sim.base_url)
    yield provider
    await provider.aclose()


def request(prompt: str, base_url: str | None = None, **options: Any) -> ModelRequest:
    return ModelRequest(step="gem", prompt=prompt, model=MODEL, options=options,
                        system_prompt="Answer plainly.",
                        mode="sim" if base_url else "mock", base_url=base_url)


def texts(events: list[Any], kind: type = TextDelta) -> str:
    return "".join(e.text for e in events if type(e) is kind)


async def until(condition, timeout: float) -> None:
    started = perf_counter()
    while not condition():
        if perf_counter() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.01)


async def test_tokens_arrive_one_by_one_with_usage_at_start_and_end_and_cost(sim):
    pool = ProviderPool()
    arrivals, events = [], []
    async for event in pool.open_stream(request("tell the river story", sim.base_url,
                                                temperature=0.3, max_output_tokens=500),
                                        "gemini"):
        events.append(event)
        if type(event) is TextDelta:
            arrivals.append(perf_counter())
    client = await pool.provider("gemini", "sim", sim.base_url)._client_for(
        request("", sim.base_url))
    await pool.aclose()
    await aclose_clients()
    sessions = list(client.aio._api_client._aiohttp_sessions.values())
    assert sessions and all(s.closed for s in sessions)  # no connection outlives the loop
    tokens = count_tokens(STORY)
    assert texts(events) == STORY and len(arrivals) == tokens
    assert arrivals[-1] - arrivals[0] > 0.5 * 0.01 * (tokens - 1)
    gaps = sorted(b - a for a, b in zip(arrivals, arrivals[1:]))
    assert gaps[len(gaps) // 2] > 0.004
    usage = [e for e in events if type(e) is Usage]
    assert [u.output_tokens for u in usage] == [1, tokens]  # the message's start and end
    assert all(u.cost_usd is not None and u.cost_usd > 0 for u in usage)
    prompt = count_tokens("tell the river story") + count_tokens("Answer plainly.")
    final = events[-1]
    assert type(final) is ResponseComplete and final.stop_reason == "STOP"
    assert (final.model, final.input_tokens, final.output_tokens) == (MODEL, prompt, tokens)
    assert final.cost_usd == pytest.approx(price_usd(MODEL, prompt, tokens))
    # What the SDK sent: the system instruction and the generation config.
    body = sim.requests[0].body
    assert body["systemInstruction"]["parts"][0]["text"] == "Answer plainly."
    assert body["generationConfig"] == {"temperature": 0.3, "maxOutputTokens": 500}
    assert sim.requests[0].path == f"/v1beta/models/{MODEL}:streamGenerateContent"
    assert sim.requests[0].query == {"alt": "sse"}


async def test_unavailable_once_is_retried_by_the_sdk(provider, sim):
    events = [e async for e in provider.stream(request("overloaded once", sim.base_url))]
    assert texts(events) == STORY
    assert not any(type(e) is StreamRetry for e in events)
    assert len(sim.requests) == 2


async def test_persistent_overload_is_an_overloaded_error_after_the_sdks_retries(provider, sim):
    with pytest.raises(ProviderError) as info:
        [e async for e in provider.stream(request("always overloaded", sim.base_url))]
    assert info.value.kind == "overloaded" and info.value.status == 529
    assert "after 3 attempts" in str(info.value)
    assert len(sim.requests) == 3


async def test_a_dropped_stream_is_retried_and_the_text_appears_once(provider, sim):
    response = AsyncResponse("gem", provider.stream(request("drop once", sim.base_url)))
    events = [e async for e in response]
    assert sum(type(e) is StreamRetry for e in events) == 1
    assert response.result().text == STORY
    assert len(sim.requests) == 2


async def test_a_stream_that_always_drops_fails_with_the_partial_text(provider, sim):
    response = AsyncResponse("gem", provider.stream(request("always drops", sim.base_url)))
    with pytest.raises(ProviderError) as info:
        [e async for e in response]
    assert info.value.kind == "network" and "dropped mid-stream" in str(info.value)
    assert response.text == "".join(tokenize(STORY)[:5])
    assert len(sim.requests) == 3


async def test_a_malformed_chunk_is_an_error(provider, sim):
    response = AsyncResponse("gem", provider.stream(request("malformed", sim.base_url)))
    with pytest.raises(ProviderError) as info:
        [e async for e in response]
    assert info.value.kind == "malformed"
    assert response.text == "".join(tokenize(STORY)[:4])


async def test_cancelling_mid_stream_ends_the_http_request_within_a_second(provider, sim):
    seen = 0
    three = asyncio.Event()

    async def consume() -> None:
        nonlocal seen
        async for event in provider.stream(request("slow story", sim.base_url)):
            if type(event) is TextDelta:
                seen += 1
                if seen == 3:
                    three.set()

    task = asyncio.create_task(consume())
    await three.wait()
    assert sim._handlers
    started = perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: not sim._handlers, timeout=1.0)  # the server saw the disconnect
    assert perf_counter() - started < 1.0
    assert seen < 10


async def test_closing_the_stream_early_ends_the_http_request(provider, sim):
    stream = provider.stream(request("slow story", sim.base_url))
    async for event in stream:
        if type(event) is TextDelta:
            break
    await stream.aclose()
    await until(lambda: not sim._handlers, timeout=1.0)


# --- the mock emits what the real provider emits --------------------------------------------


def comparable(events: list[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for e in events:
        kind = type(e)
        if kind in (TextDelta, ThinkingDelta):
            out.append((kind.__name__, e.text))
        elif kind is ToolUse:
            out.append(("ToolUse", e.tool_use_id, e.name, e.input))
        elif kind is Usage:
            out.append(("Usage", e.input_tokens, e.output_tokens, e.cost_usd))
        elif kind is StreamRetry:
            out.append(("StreamRetry", e.attempt))
        elif kind is MessageComplete:
            out.append(("MessageComplete", e.stop_reason, e.model))
        elif kind is ResponseComplete:
            out.append(("ResponseComplete", e.model, e.stop_reason, e.input_tokens,
                        e.output_tokens, e.cost_usd))
        else:
            out.append((kind.__name__,))
    return out


async def outcome(stream: AsyncIterator[Any]) -> tuple[list[Any], str | None]:
    events: list[Any] = []
    try:
        async for event in stream:
            events.append(event)
    except ProviderError as exc:
        return events, exc.kind
    return events, None


@pytest.mark.parametrize("prompt", ["think first", "use the tool", "drop once",
                                    "overloaded once", "always drops", "malformed"])
async def test_the_mock_emits_the_real_providers_events(provider, sim, prompt):
    real, real_error = await outcome(provider.stream(request(prompt, sim.base_url)))
    mock, mock_error = await outcome(MockProvider("gemini", script=script()).stream(
        request(prompt)))
    assert comparable(mock) == comparable(real)
    assert mock_error == real_error
    assert len(real) > 3


LIMITED = "Name three rivers of Europe and one fact about each of them."


async def test_max_input_tokens_counts_with_gemini_count_tokens_and_refuses_before_sending(
        provider, sim):
    tokens = count_tokens("Answer plainly.") + count_tokens(LIMITED)  # what the sim counts
    with pytest.raises(ProviderError) as info:
        [e async for e in provider.stream(request(LIMITED, sim.base_url,
                                                  max_input_tokens=tokens - 1))]
    assert info.value.kind == "invalid_request"
    assert f"the prompt is {tokens} tokens (counted by Gemini's countTokens), over " \
           f"token_budget.max_input_tokens ({tokens - 1}), so it was not sent" in str(info.value)
    assert [r.path.rsplit(":", 1)[1] for r in sim.requests] == ["countTokens"]
    events = [e async for e in provider.stream(request(LIMITED, sim.base_url,
                                                       max_input_tokens=tokens))]
    assert type(events[-1]) is ResponseComplete
    assert [r.path.rsplit(":", 1)[1] for r in sim.requests] == [
        "countTokens", "countTokens", "streamGenerateContent"]


async def test_the_mock_applies_max_input_tokens_to_the_same_count():
    tokens = count_tokens("Answer plainly.") + count_tokens(LIMITED)
    mock = MockProvider("gemini", script=script())
    with pytest.raises(ProviderError, match=f"the prompt is {tokens} tokens \\(estimated"):
        [e async for e in mock.stream(request(LIMITED, max_input_tokens=tokens - 1))]
    events = [e async for e in mock.stream(request(LIMITED, max_input_tokens=tokens))]
    assert type(events[-1]) is ResponseComplete


async def test_max_output_tokens_cuts_the_reply_in_the_simulator_and_the_mock_alike(
        provider, sim):
    real = [e async for e in provider.stream(request(LIMITED, sim.base_url,
                                                     max_output_tokens=7))]
    mock = [e async for e in MockProvider("gemini", script=script()).stream(
        request(LIMITED, max_output_tokens=7))]
    assert comparable(mock) == comparable(real)
    assert len(tokenize(texts(real))) == 7
    assert real[-1].output_tokens == 7 and real[-1].stop_reason == "MAX_TOKENS"
