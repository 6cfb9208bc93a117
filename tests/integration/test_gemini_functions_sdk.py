"""Gemini function calling end to end: the real google-genai SDK against the simulator.
The model calls, rillet runs the functions, the SDK sends their functionResponse parts
back, the model answers; and the mock emits the same events for the same script."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rillet.errors import ProviderError
from rillet.events import (
    MessageComplete, ResponseComplete, TextDelta, ThinkingDelta, ToolResult, ToolUse, Usage,
)
from rillet.providers.base import ModelRequest
from rillet.providers.gemini import GeminiProvider
from rillet.providers.mock import MockProvider
from rillet.sim.script import Script

pytestmark = pytest.mark.sdk

MODEL = "gemini-2.5-flash"
WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}


def script() -> Script:
    return Script.from_dict({"rules": [
        {"match": "two cities", "timing": {"pattern": "fast"}, "thinking": "Both at once.",
         "function_calls": [{"name": "get_weather", "input": {"city": "Paris"}},
                            {"name": "get_weather", "input": {"city": "Oslo"}}],
         "text": "Paris is mild and Oslo is cold."},
        {"match": "keeps asking", "timing": {"pattern": "fast"}, "function_rounds": 3,
         "function_calls": [{"name": "get_weather", "input": {"city": "Rome"}}],
         "text": "Rome, finally."},
        {"match": "one city", "timing": {"pattern": "fast"},
         "tool_use": {"name": "get_weather", "input": {"city": "Lima"}},
         "text": "Lima is grey."},
    ]})


async def get_weather(city: str) -> dict[str, Any]:
    await asyncio.sleep(0)
    if city == "Oslo":
        return {"city": city, "celsius": -3}
    return {"city": city, "celsius": 14}


def broken_weather(city: str) -> str:
    raise LookupError(f"no station in {city}")


def request(prompt: str, base_url: str | None = None, code: Any = get_weather,
            rounds: int = 5) -> ModelRequest:
    return ModelRequest(step="gem", prompt=prompt, model=MODEL, system_prompt="Be brief.",
                        functions=[WEATHER], function_code={"get_weather": code},
                        max_function_rounds=rounds,
                        mode="sim" if base_url else "mock", base_url=base_url)


@pytest.fixture
async def sim(sim_factory):
    return await sim_factory(script())


@pytest.fixture
async def provider(sim) -> AsyncIterator[GeminiProvider]:
    provider = GeminiProvider(mode="sim", base_url=sim.base_url)
    yield provider
    await provider.aclose()


async def outcome(stream: AsyncIterator[Any]) -> tuple[list[Any], ProviderError | None]:
    events: list[Any] = []
    try:
        async for event in stream:
            events.append(event)
    except ProviderError as exc:
        return events, exc
    return events, None


def comparable(events: list[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for e in events:
        kind = type(e)
        if kind in (TextDelta, ThinkingDelta):
            out.append((kind.__name__, e.text))
        elif kind is ToolUse:
            out.append(("ToolUse", e.tool_use_id, e.name, e.input))
        elif kind is ToolResult:
            out.append(("ToolResult", e.tool_use_id, e.content, e.is_error))
        elif kind is Usage:
            out.append(("Usage", e.input_tokens, e.output_tokens))
        elif kind is MessageComplete:
            out.append(("MessageComplete", e.stop_reason, e.model))
        elif kind is ResponseComplete:
            out.append(("ResponseComplete", e.model, e.stop_reason, e.input_tokens,
                        e.output_tokens, e.num_turns, e.output))
        else:
            out.append((kind.__name__,))
    return out


async def test_parallel_calls_run_and_their_responses_go_back_before_the_answer(provider, sim):
    events, error = await outcome(provider.stream(request("weather in two cities",
                                                          sim.base_url)))
    assert error is None
    kinds = [type(e).__name__ for e in events]
    # First turn: thoughts, both calls, its end; the two results; then the answer.
    first_end = kinds.index("MessageComplete")
    assert kinds[:first_end].count("ToolUse") == 2
    assert kinds[first_end + 1:first_end + 3] == ["ToolResult", "ToolResult"]
    results = [e for e in events if type(e) is ToolResult]
    assert [(r.tool_use_id, r.content, r.is_error) for r in results] == [
        ("get_weather-1", '{"city": "Paris", "celsius": 14}', False),
        ("get_weather-2", '{"city": "Oslo", "celsius": -3}', False)]
    answer = "".join(e.text for e in events[first_end:] if type(e) is TextDelta)
    assert answer == "Paris is mild and Oslo is cold."
    final = events[-1]
    assert type(final) is ResponseComplete and final.num_turns == 2 and final.output is None
    # What the SDK sent the second time: the model's turn as it came, then the responses.
    assert len(sim.requests) == 2
    contents = sim.requests[1].body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    model_parts = contents[1]["parts"]
    assert model_parts[0] == {"text": "Both", "thought": True}
    assert [p["functionCall"] for p in model_parts if "functionCall" in p] == [
        {"name": "get_weather", "args": {"city": "Paris"}},
        {"name": "get_weather", "args": {"city": "Oslo"}}]
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "get_weather",
                              "response": {"output": {"city": "Paris", "celsius": 14}}}},
        {"functionResponse": {"name": "get_weather",
                              "response": {"output": {"city": "Oslo", "celsius": -3}}}}]
    # The step's tokens are both requests'; the second prompt carries the whole history.
    usage = [e for e in events if type(e) is Usage]
    assert final.input_tokens == usage[-1].input_tokens > usage[0].input_tokens * 2


async def test_the_model_turn_goes_back_with_its_thought_signatures(provider, sim,
                                                                   monkeypatch):
    events, error = await outcome(provider.stream(request("weather in one city",
                                                          sim.base_url)))
    assert error is None
    sent = sim.requests[1].body["contents"][1]["parts"]
    assert [p["thoughtSignature"] for p in sent if "functionCall" in p] == [
        "c2ltLXNpZ25hdHVyZTpnZXRfd2VhdGhlcg=="]  # base64 of "sim-signature:get_weather"
    # A client that rebuilds the model's turn from the calls loses them: Gemini refuses it.
    from google.genai import types

    from rillet.providers.gemini.provider import SDKConversation

    def rebuilt(self: Any, parts: list[Any]) -> Any:
        return types.Content(role="model", parts=[
            types.Part(function_call=p.function_call) for p in parts if p.function_call])

    monkeypatch.setattr(SDKConversation, "model_turn", rebuilt)
    events, error = await outcome(provider.stream(request("weather in one city",
                                                          sim.base_url)))
    assert error is not None and error.kind == "invalid_request"
    assert "missing a thought_signature" in str(error)


async def test_a_function_that_raises_sends_its_error_back_and_the_step_goes_on(provider, sim):
    events, error = await outcome(provider.stream(request("weather in one city",
                                                          sim.base_url, broken_weather)))
    assert error is None
    result = next(e for e in events if type(e) is ToolResult)
    assert result.is_error and result.content == "LookupError: no station in Lima"
    assert sim.requests[1].body["contents"][2]["parts"] == [{"functionResponse": {
        "name": "get_weather", "response": {"error": "LookupError: no station in Lima"}}}]
    assert "".join(e.text for e in events if type(e) is TextDelta) == "Lima is grey."


async def test_rounds_go_on_while_the_model_calls_up_to_max_function_rounds(provider, sim):
    events, error = await outcome(provider.stream(request("keeps asking", sim.base_url,
                                                          rounds=3)))
    assert error is None and len(sim.requests) == 4
    assert [e.tool_use_id for e in events if type(e) is ToolResult] == [
        "get_weather-1", "get_weather-2", "get_weather-3"]
    assert events[-1].num_turns == 4
    assert [c["role"] for c in sim.requests[3].body["contents"]] == [
        "user", "model", "user", "model", "user", "model", "user"]


async def test_a_model_still_calling_past_max_function_rounds_fails_the_step(provider, sim):
    events, error = await outcome(provider.stream(request("keeps asking", sim.base_url,
                                                          rounds=2)))
    assert error is not None and error.kind == "function_rounds"
    assert "after 2 rounds of function calls (max_function_rounds: 2)" in str(error)
    assert len(sim.requests) == 3
    assert sum(type(e) is ToolResult for e in events) == 2


@pytest.mark.parametrize("prompt,code,rounds", [
    ("weather in two cities", get_weather, 5), ("weather in one city", broken_weather, 5),
    ("keeps asking", get_weather, 5), ("keeps asking", get_weather, 1)])
async def test_the_mock_emits_the_real_providers_events(provider, sim, prompt, code, rounds):
    real, real_error = await outcome(provider.stream(request(prompt, sim.base_url, code,
                                                             rounds)))
    mock, mock_error = await outcome(MockProvider("gemini", script=script()).stream(
        request(prompt, code=code, rounds=rounds)))
    assert comparable(mock) == comparable(real)
    assert (mock_error and str(mock_error)) == (real_error and str(real_error))
    assert sum(type(e) is ToolResult for e in real) >= 1


# --- a whole run, in sim mode ---------------------------------------------------------------


async def test_a_nested_pipeline_runs_its_own_functions_through_google_genai(tmp_path, sim):
    import textwrap
    import uuid

    import rillet

    module = f"city_weather_{uuid.uuid4().hex[:8]}"
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / f"{module}.py").write_text(
        "def get_weather(city):\n    return {'city': city, 'celsius': 9}\n")
    (inner / "weather.yaml").write_text(textwrap.dedent(f"""\
        workflow:
          name: weather
          gemini_functions:
            get_weather:
              parameters: {{type: object, properties: {{city: {{type: string}}}}}}
              implementation: "{module}:get_weather"
          steps:
            - name: ask
              type: gemini
              functions: [get_weather]
              prompt: "weather in one city"
        """))
    (tmp_path / "outer.yaml").write_text(textwrap.dedent("""\
        workflow:
          name: outer
          steps:
            - name: trip
              type: pipeline
              pipeline_file: inner/weather.yaml
        """))
    seen: list[Any] = []

    class Listener:
        def on_event(self, event: Any) -> None:
            seen.append(event)

    result = await rillet.run_async(tmp_path / "outer.yaml", mode="sim",
                                    sim_base_url=sim.base_url, output_dir=tmp_path / "out",
                                    workspace_dir=tmp_path / "ws", listeners=[Listener()])
    assert result.status == "completed", result.error
    [tool_result] = [e for e in seen if type(e) is ToolResult]
    assert (tool_result.step, tool_result.content) == ("trip.ask", '{"city": "Lima", "celsius": 9}')
    assert sim.requests[-1].body["contents"][2]["parts"] == [{"functionResponse": {
        "name": "get_weather", "response": {"output": {"city": "Lima", "celsius": 9}}}}]
    step = result.results["trip"].children["ask"]
    assert step.text == "Lima is grey." and step.num_turns == 2
