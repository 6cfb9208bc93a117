"""MockProvider: each kind's events, in-process, from the script or the step's `mock:`,
with the reply's timing and its faults played out as the real provider would see them.
(That mock and real emit the same events is pinned against the simulator in
tests/integration/test_anthropic_api_sdk.py and test_gemini_sdk.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rillet.errors import ProviderError
from rillet.events import (
    MessageComplete, ResponseComplete, StreamRetry, TextDelta, ThinkingDelta, ToolUse, Usage,
)
from rillet.providers.base import ModelRequest
from rillet.providers.mock import MockProvider
from rillet.sim.script import Script, count_tokens, tokenize
from rillet.streaming.response import AsyncResponse

KINDS = ("claude_agent", "anthropic_api", "gemini")
TEXT = "one two three four five six seven eight nine ten eleven twelve"
FAST = {"pattern": "fast"}


def request(mock: Any = None, prompt: str = "hello there", **options: Any) -> ModelRequest:
    return ModelRequest(step="s", prompt=prompt, mock=mock or {}, options=options)


async def events_of(kind: str, mock: Any = None, script: Script | None = None,
                    **options: Any) -> list[Any]:
    return [e async for e in MockProvider(kind, script=script).stream(
        request(mock, **options))]


def texts(events: list[Any], kind: type = TextDelta) -> str:
    return "".join(e.text for e in events if type(e) is kind)


def first_tokens(count: int) -> str:
    return "".join(tokenize(TEXT)[:count])


@pytest.mark.parametrize("kind", KINDS)
async def test_text_streams_token_by_token_and_ends_with_one_response_complete(kind):
    events = await events_of(kind, {"text": TEXT, "timing": FAST})
    deltas = [e for e in events if type(e) is TextDelta]
    assert [d.text for d in deltas] == tokenize(TEXT)
    assert type(events[-1]) is ResponseComplete
    assert sum(type(e) is ResponseComplete for e in events) == 1
    assert events[-1].output_tokens == count_tokens(TEXT)
    assert events[-1].input_tokens == count_tokens("hello there")


def test_each_kind_has_its_providers_event_shape():
    # The order each real provider emits (claude_agent: the CLI adds its result's Usage).
    async def shape(kind: str) -> list[str]:
        names = [type(e).__name__ for e in await events_of(kind, {"text": "a b",
                                                                 "timing": FAST})]
        return [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]

    assert asyncio.run(shape("anthropic_api")) == [
        "Usage", "TextDelta", "Usage", "MessageComplete", "ResponseComplete"]
    assert asyncio.run(shape("claude_agent")) == [
        "Usage", "TextDelta", "Usage", "MessageComplete", "Usage", "ResponseComplete"]
    # Gemini: running usage with every chunk.
    assert asyncio.run(shape("gemini")) == [
        "TextDelta", "Usage", "TextDelta", "Usage", "MessageComplete", "ResponseComplete"]


async def test_the_steps_mock_reply_wins_over_the_script():
    script = Script.from_dict({"rules": [{"match": "", "text": "from the script",
                                          "timing": FAST}]})
    assert texts(await events_of("gemini", {"text": "from the step", "timing": FAST},
                                 script=script)) == "from the step"
    assert texts(await events_of("gemini", script=script)) == "from the script"


async def test_a_bare_string_mock_is_the_reply_text(monkeypatch):
    monkeypatch.setattr(asyncio, "sleep", _no_wait)
    assert texts(await events_of("anthropic_api", "just this")) == "just this"


async def test_without_a_script_the_built_in_one_answers(monkeypatch):
    monkeypatch.setattr(asyncio, "sleep", _no_wait)
    events = [e async for e in MockProvider("anthropic_api").stream(
        request(prompt="please review this code"))]
    assert texts(events).startswith("Overall the code is readable")


async def _no_wait(delay: float, result: Any = None) -> Any:
    return result


async def test_zero_delays_never_sleep_and_paced_replies_sleep_per_delta(monkeypatch):
    waits: list[float] = []

    async def record(delay: float, result: Any = None) -> Any:
        waits.append(delay)
        return result

    monkeypatch.setattr(asyncio, "sleep", record)
    for kind in KINDS:
        await events_of(kind, {"text": TEXT, "timing": FAST})
    assert waits == []
    paced = {"first_token_delay_s": 0.3, "tokens_per_second": 100, "jitter": 0}
    await events_of("anthropic_api", {"text": TEXT, "timing": paced})
    # One pause before message_start, then one before each delta. The clock stands still
    # while sleep is faked, so each pause is what the timetable owes by then.
    assert len(waits) == 1 + count_tokens(TEXT)
    assert waits[0] == pytest.approx(0.3, abs=0.001)
    assert waits[-1] == pytest.approx(0.3 + 0.01 * count_tokens(TEXT), abs=0.001)


@pytest.mark.parametrize("kind", ["anthropic_api", "gemini"])
async def test_thinking_and_a_tool_call_come_as_their_own_events(kind):
    events = await events_of(kind, {"thinking": "Weigh it first.", "text": "unused",
                                    "tool_use": {"name": "list_files", "input": {"path": "."}},
                                    "timing": FAST})
    assert texts(events, ThinkingDelta) == "Weigh it first."
    (call,) = [e for e in events if type(e) is ToolUse]
    assert (call.name, call.input) == ("list_files", {"path": "."})
    assert texts(events) == ""  # one request: the tool call ends it
    assert events[-1].stop_reason == ("tool_use" if kind == "anthropic_api" else "STOP")


async def test_claude_agent_tool_reply_plays_both_turns():
    events = await events_of("claude_agent", {"text": TEXT, "timing": FAST, "tool_use": {
        "name": "Bash", "input": {"command": "ls"}}})
    assert [e.name for e in events if type(e) is ToolUse] == ["Bash"]
    assert texts(events) == TEXT
    assert events[-1].num_turns == 2


# --- faults ---------------------------------------------------------------------------------

DROP = {"kind": "drop", "after_deltas": 3}


@pytest.mark.parametrize("kind", KINDS)
async def test_a_drop_that_clears_is_retried_and_the_text_comes_once(kind):
    source = MockProvider(kind).stream(request({"text": TEXT, "timing": FAST,
                                                "fault": {**DROP, "times": 1}}))
    response = AsyncResponse("s", source)
    events = [e async for e in response]
    assert sum(type(e) is StreamRetry for e in events) == 1
    assert texts(events) == first_tokens(3) + TEXT  # what listeners saw, retry included
    assert response.result().text == TEXT  # what the step keeps


@pytest.mark.parametrize("kind", ["anthropic_api", "gemini"])
async def test_a_drop_every_time_fails_after_the_providers_retries(kind):
    seen: list[Any] = []
    with pytest.raises(ProviderError) as info:
        async for event in MockProvider(kind).stream(request({"text": TEXT, "timing": FAST,
                                                              "fault": DROP})):
            seen.append(event)
    assert info.value.kind == "network" and "dropped" in str(info.value)
    assert "2 retries" in str(info.value)
    assert sum(type(e) is StreamRetry for e in seen) == 2
    assert texts(seen) == first_tokens(3) * 3


async def test_claude_agent_drop_without_retries_left_keeps_the_partial_text():
    seen: list[Any] = []
    with pytest.raises(ProviderError) as info:
        async for event in MockProvider("claude_agent").stream(
                request({"text": TEXT, "timing": FAST, "fault": DROP})):
            seen.append(event)
    assert info.value.kind == "network"
    assert "dropped the connection" in str(info.value) and "'s'" in str(info.value)
    assert texts(seen) == first_tokens(3)
    assert not any(type(e) is StreamRetry for e in seen)


async def test_claude_agent_gives_up_after_the_clis_retries():
    seen: list[Any] = []
    with pytest.raises(ProviderError) as info:
        async for event in MockProvider("claude_agent").stream(request(
                {"text": TEXT, "timing": FAST, "fault": {**DROP, "times": 5}},
                env={"CLAUDE_CODE_MAX_RETRIES": "2"})):
            seen.append(event)
    assert info.value.kind == "network"
    assert sum(type(e) is StreamRetry for e in seen) == 2
    assert texts(seen) == first_tokens(3) * 3


@pytest.mark.parametrize(("kind", "error_kind"), [
    ("claude_agent", "api"), ("anthropic_api", "malformed"), ("gemini", "malformed")])
async def test_a_malformed_event_is_an_error_after_the_text_so_far(kind, error_kind):
    seen: list[Any] = []
    with pytest.raises(ProviderError) as info:
        async for event in MockProvider(kind).stream(request(
                {"text": TEXT, "timing": FAST, "fault": {"kind": "malformed",
                                                         "after_deltas": 4}})):
            seen.append(event)
    assert info.value.kind == error_kind
    assert texts(seen) == first_tokens(4)
    assert not any(type(e) is StreamRetry for e in seen)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_stall_waits_then_the_stream_goes_on(kind, monkeypatch):
    waits: list[float] = []

    async def record(delay: float, result: Any = None) -> Any:
        waits.append(delay)
        return result

    monkeypatch.setattr(asyncio, "sleep", record)
    events = await events_of(kind, {"text": TEXT, "timing": FAST, "fault": {
        "kind": "stall", "after_deltas": 2, "seconds": 7}})
    assert waits == [7]
    assert texts(events) == TEXT and type(events[-1]) is ResponseComplete


@pytest.mark.parametrize("kind", ["anthropic_api", "gemini"])
async def test_overloaded_requests_are_retried_like_the_sdk_does(kind):
    script = Script.from_dict({"rules": [{"match": "", "text": TEXT, "timing": FAST,
                                          "fault": {"kind": "http_error", "status": 529,
                                                    "times": 2}}]})
    events = await events_of(kind, script=script)
    assert texts(events) == TEXT and not any(type(e) is StreamRetry for e in events)

    always = Script.from_dict({"rules": [{"match": "", "fault": {
        "kind": "http_error", "status": 529, "times": 50}}]})
    with pytest.raises(ProviderError) as info:
        await events_of(kind, script=always)
    assert info.value.kind == "overloaded" and info.value.status == 529


@pytest.mark.parametrize(("kind", "status", "error_kind"), [
    ("anthropic_api", 401, "auth"), ("anthropic_api", 429, "rate_limit"),
    ("gemini", 403, "auth"), ("gemini", 400, "invalid_request")])
async def test_failed_requests_map_to_clear_errors(kind, status, error_kind):
    script = Script.from_dict({"rules": [{"match": "", "fault": {
        "kind": "http_error", "status": status, "times": 50}}]})
    with pytest.raises(ProviderError) as info:
        await events_of(kind, script=script)
    assert info.value.kind == error_kind and f"HTTP {status}" in str(info.value)


async def test_claude_agent_overload_plays_out_as_the_clis_retries():
    script = Script.from_dict({"rules": [{"match": "", "text": TEXT, "timing": FAST,
                                          "fault": {"kind": "http_error", "status": 529,
                                                    "times": 2}}]})
    events = await events_of("claude_agent", script=script)
    assert texts(events) == TEXT and type(events[-1]) is ResponseComplete


@pytest.mark.parametrize(("kind", "option"), [("anthropic_api", "max_turns"),
                                              ("gemini", "max_tokens")])
async def test_an_option_the_provider_does_not_know_fails_when_read(kind, option):
    stream = MockProvider(kind).stream(request({"text": "x"}, **{option: 3}))
    with pytest.raises(ProviderError, match=f"'{option}'") as info:
        [e async for e in stream]
    assert info.value.kind == "invalid_request"


async def test_an_invalid_mock_reply_fails_when_read():
    stream = MockProvider("gemini").stream(request({"text": "x", "timing": {"pattern": "odd"}}))
    with pytest.raises(ProviderError, match="mock reply is not valid"):
        [e async for e in stream]


def test_unknown_kind_is_refused():
    with pytest.raises(ProviderError, match="unknown provider kind"):
        MockProvider("openai")


async def test_closing_the_stream_stops_it_mid_reply():
    stream = MockProvider("anthropic_api").stream(request(
        {"text": TEXT, "timing": {"pattern": "slow", "first_token_delay_s": 0}}))
    seen = []
    async for event in stream:
        if type(event) is TextDelta:
            seen.append(event.text)
            if len(seen) == 2:
                break
    await stream.aclose()
    assert seen == tokenize(TEXT)[:2]
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_gemini_usage_is_told_when_the_message_starts_and_ends_not_per_delta():
    events = await events_of("gemini", {"text": TEXT, "thinking": "hmm so", "timing": FAST})
    usage = [e for e in events if type(e) is Usage]
    assert [u.output_tokens for u in usage] == [1, count_tokens(TEXT) + 2]
    assert events[-1].output_tokens == usage[-1].output_tokens
    assert [type(e) for e in events[-2:]] == [MessageComplete, ResponseComplete]


async def test_claude_agent_drop_in_a_tool_turn_resends_only_that_request():
    response = AsyncResponse("s", MockProvider("claude_agent").stream(request(
        {"text": TEXT, "timing": FAST, "tool_use": {"name": "Bash", "input": {
            "command": "ls -la /tmp"}}, "fault": {**DROP, "times": 1}})))
    events = [e async for e in response]
    assert [e.name for e in events if type(e) is ToolUse] == ["Bash"]  # reported once
    result = response.result()
    assert result.text == TEXT and result.num_turns == 2
