"""The Anthropic Messages API provider end to end: the real `anthropic` SDK against the
in-process simulator, and the mock provider checked against it (same events for the same
reply). The Claude Agent mock is checked against the real CLI here too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from time import perf_counter
from typing import Any

import pytest

from rillet.errors import ProviderError
from rillet.events import (
    MessageComplete, ResponseComplete, StreamRetry, TextDelta, ThinkingDelta, ToolUse, Usage,
)
from rillet.providers.anthropic_api import AnthropicAPIProvider
from rillet.providers.base import ModelRequest
from rillet.providers.clients import aclose_clients
from rillet.providers.mock import MockProvider
from rillet.providers.pricing import price_usd
from rillet.providers.registry import ProviderPool
from rillet.sim.script import Script, count_tokens, tokenize
from rillet.streaming.response import AsyncResponse

from fault_rules import STORY, fault_rules  # beside this file

pytestmark = pytest.mark.sdk

MODEL = "claude-sonnet-5-5"
def script() -> Script:
    return Script.from_dict({"rules": fault_rules(529)})


@pytest.fixture
async def sim(sim_factory):
    return await sim_factory(script())


@pytest.fixture
async def provider(sim) -> AsyncIterator[AnthropicAPIProvider]:
    provider = AnthropicAPIProvider(mode="sim", base_url=sim.base_url)
    yield provider
    await provider.aclose()


def request(prompt: str, base_url: str | None = None, **options: Any) -> ModelRequest:
    return ModelRequest(step="api", prompt=prompt, model=MODEL, options=options,
                        mode="sim" if base_url else "mock", base_url=base_url)


def texts(events: list[Any], kind: type = TextDelta) -> str:
    return "".join(e.text for e in events if type(e) is kind)


async def until(condition, timeout: float) -> None:
    started = perf_counter()
    while not condition():
        if perf_counter() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.01)


async def test_tokens_arrive_one_by_one_with_usage_and_cost(sim):
    pool = ProviderPool()
    arrivals, events = [], []
    async for event in pool.open_stream(request("tell the river story", sim.base_url),
                                        "anthropic_api"):
        events.append(event)
        if type(event) is TextDelta:
            arrivals.append(perf_counter())
    client = await pool.provider("anthropic_api", "sim", sim.base_url)._client_for(
        request("", sim.base_url))
    await pool.aclose()
    assert not client.is_closed()  # shared with the process's next run
    await aclose_clients()
    assert client.is_closed()  # no HTTP connection outlives the loop
    tokens = count_tokens(STORY)
    assert texts(events) == STORY and len(arrivals) == tokens
    # Paced at 10 ms a token: spread over time, never one burst.
    assert arrivals[-1] - arrivals[0] > 0.5 * 0.01 * (tokens - 1)
    gaps = sorted(b - a for a, b in zip(arrivals, arrivals[1:]))
    assert gaps[len(gaps) // 2] > 0.004
    final = events[-1]
    assert type(final) is ResponseComplete and final.model == MODEL
    assert (final.input_tokens, final.output_tokens) == (
        count_tokens("tell the river story"), tokens)
    assert final.cost_usd == pytest.approx(price_usd(MODEL, final.input_tokens, tokens))
    assert final.cost_usd > 0


async def test_overloaded_once_is_retried_by_the_sdk(provider, sim):
    events = [e async for e in provider.stream(request("overloaded once", sim.base_url))]
    assert texts(events) == STORY
    assert not any(type(e) is StreamRetry for e in events)
    assert len(sim.requests) == 2


async def test_persistent_overload_is_an_overloaded_error_after_the_sdks_retries(provider, sim):
    with pytest.raises(ProviderError) as info:
        [e async for e in provider.stream(request("always overloaded", sim.base_url))]
    assert info.value.kind == "overloaded" and info.value.status == 529
    assert "try again later" in str(info.value)
    assert len(sim.requests) == 3  # the first try and the SDK's two retries


async def test_a_dropped_stream_is_retried_and_the_text_appears_once(provider, sim):
    response = AsyncResponse("api", provider.stream(request("drop once", sim.base_url)))
    events = [e async for e in response]
    assert sum(type(e) is StreamRetry for e in events) == 1
    assert response.result().text == STORY
    assert response.metrics.retries == 1
    assert len(sim.requests) == 2


async def test_a_stream_that_always_drops_fails_with_the_partial_text(provider, sim):
    response = AsyncResponse("api", provider.stream(request("always drops", sim.base_url)))
    with pytest.raises(ProviderError) as info:
        [e async for e in response]
    assert info.value.kind == "network" and "dropped mid-stream" in str(info.value)
    assert response.text == "".join(tokenize(STORY)[:5])  # the last attempt's text, once
    assert len(sim.requests) == 3


async def test_a_malformed_event_is_an_error(provider, sim):
    response = AsyncResponse("api", provider.stream(request("malformed", sim.base_url)))
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
    assert sim._handlers  # the simulator is streaming to us
    started = perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The simulator's handler ended: it saw the client disconnect.
    await until(lambda: not sim._handlers, timeout=1.0)
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
    """Events without what is random per run (the simulator's tool ids, retry reasons)."""
    out: list[tuple[Any, ...]] = []
    for e in events:
        kind = type(e)
        if kind in (TextDelta, ThinkingDelta):
            out.append((kind.__name__, e.text))
        elif kind is ToolUse:
            out.append(("ToolUse", e.name, e.input))
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
    mock, mock_error = await outcome(MockProvider("anthropic_api", script=script()).stream(
        request(prompt)))
    assert comparable(mock) == comparable(real)
    assert mock_error == real_error
    assert len(real) > 3


# --- the Claude Agent mock against the real CLI ------------------------------------------------


@pytest.mark.parametrize("prompt", ["think first", "drop once"])
async def test_the_claude_agent_mock_emits_the_real_clis_events(sim, tmp_path: Path, prompt):
    from rillet.providers.claude_agent import ClaudeAgentProvider

    cli = ClaudeAgentProvider(mode="sim", base_url=sim.base_url)
    try:
        real = [e async for e in cli.stream(ModelRequest(
            step="api", prompt=prompt, model=MODEL, mode="sim", base_url=sim.base_url,
            workspace_dir=str(tmp_path)))]
    finally:
        await cli.aclose()
    mock = [e async for e in MockProvider("claude_agent", script=script()).stream(
        request(prompt))]
    # The CLI adds its own context to the input and prices it itself: compare the stream.
    assert [type(e).__name__ for e in mock] == [type(e).__name__ for e in real]
    for kind in (TextDelta, ThinkingDelta):
        assert [e.text for e in mock if type(e) is kind] == [
            e.text for e in real if type(e) is kind]
    # Output figures of the stream (the CLI's final total also counts the token a broken
    # attempt had announced).
    assert [e.output_tokens for e in mock if type(e) is Usage][1:-1] == [
        e.output_tokens for e in real if type(e) is Usage][1:-1]
