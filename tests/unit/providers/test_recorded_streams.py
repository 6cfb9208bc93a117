"""Streams in the wire formats the Anthropic and Gemini APIs document
(tests/fixtures/recorded): the translators read them right, the simulator sends every field
they hold, and the mock provider (which replays the simulator) tells the same events. The
mock cannot vouch for the simulator; these fixtures vouch for both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rillet.events import MessageComplete, ResponseComplete, TextDelta, Usage
from rillet.providers.anthropic_api.provider import translated_attempts as anthropic_attempts
from rillet.providers.base import ModelRequest
from rillet.providers.gemini.calls import translated_attempts as gemini_attempts
from rillet.providers.gemini.events import wire_chunk
from rillet.providers.mock import MockProvider
from rillet.sim.anthropic_stream import anthropic_events
from rillet.sim.gemini_stream import gemini_chunks
from rillet.sim.script import Reply, Timing

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "recorded"
FAST = Timing(pattern="fast")


def sse_data(name: str) -> list[dict[str, Any]]:
    """The JSON of every `data:` line of a recorded server-sent-event stream."""
    text = (RECORDED / name).read_text(encoding="utf-8")
    return [json.loads(line[len("data: "):]) for line in text.splitlines()
            if line.startswith("data: ")]


ANTHROPIC = sse_data("anthropic_messages_stream.sse")
GEMINI = sse_data("gemini_stream_generate_content.sse")


async def translate(attempts, items: list[Any]) -> list[Any]:
    async def one_attempt(_: int):
        for item in items:
            yield item

    request = ModelRequest(step="s", prompt="hi", mode="sim")
    return [e async for e in attempts(request, one_attempt, retries=0)]


def kinds(events: list[Any]) -> list[str]:
    """Event types in order, a run of text deltas as one."""
    names: list[str] = []
    for event in events:
        name = type(event).__name__
        if not (name == "TextDelta" and names and names[-1] == name):
            names.append(name)
    return names


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def covers(sent: Any, documented: Any, where: str = "") -> list[str]:
    """What the documented shape has that the sent one lacks or types differently."""
    if isinstance(documented, dict):
        if not isinstance(sent, dict):
            return [f"{where}: not an object"]
        return [gap for key, item in documented.items()
                for gap in (covers(sent[key], item, f"{where}.{key}") if key in sent
                            else [f"{where}.{key}: missing"])]
    if isinstance(documented, list):
        if documented and sent:
            return covers(sent[0], documented[0], f"{where}[0]")
        return []
    if documented == "NoneType" or sent == "NoneType":
        return []  # null there may be a value here (stop_reason before and after)
    return [] if sent == documented else [f"{where}: {sent} where {documented} is documented"]


# --- the translators ----------------------------------------------------------------------


async def test_the_anthropic_translator_reads_the_documented_stream():
    events = await translate(anthropic_attempts, ANTHROPIC)
    assert [e.text for e in events if type(e) is TextDelta] == ["Hello", "!"]
    # message_start's output_tokens (1) is a placeholder: nothing is billed before a delta.
    assert [(u.input_tokens, u.output_tokens) for u in events if type(u) is Usage] == [
        (25, 0), (25, 15)]
    assert kinds(events) == ["Usage", "TextDelta", "Usage", "MessageComplete",
                             "ResponseComplete"]
    final = events[-1]
    assert (final.model, final.stop_reason, final.input_tokens, final.output_tokens) == (
        "claude-sonnet-4-5", "end_turn", 25, 15)


async def test_the_gemini_translator_reads_the_documented_stream():
    events = await translate(gemini_attempts, [wire_chunk(c) for c in GEMINI])
    assert [e.text for e in events if type(e) is TextDelta] == ["Hello", " there", "!"]
    assert [(u.input_tokens, u.output_tokens) for u in events if type(u) is Usage] == [
        (8, 1), (8, 3)]  # when the message starts and when it ends
    assert kinds(events) == ["TextDelta", "Usage", "TextDelta", "Usage", "MessageComplete",
                             "ResponseComplete"]
    final = events[-1]
    assert type(final) is ResponseComplete
    assert (final.model, final.stop_reason, final.input_tokens, final.output_tokens) == (
        "gemini-2.5-flash", "STOP", 8, 3)
    assert type(events[-2]) is MessageComplete


# --- the simulator ------------------------------------------------------------------------


def test_the_simulators_anthropic_events_hold_every_documented_field():
    sent = [e for _, e in anthropic_events(Reply(text="Hello there, friend!", timing=FAST),
                                           model="claude-sonnet-4-5", input_tokens=25,
                                           fault=None)]
    assert [e["type"] for e in sent][:3] == [e["type"] for e in ANTHROPIC][:3]
    assert {e["type"] for e in sent} == {e["type"] for e in ANTHROPIC}
    by_type = {e["type"]: e for e in sent}
    for documented in ANTHROPIC:
        gaps = covers(shape(by_type[documented["type"]]), shape(documented), documented["type"])
        assert gaps == [], gaps
    assert sent[-2]["usage"]["output_tokens"] >= 1 and sent[-1] == {"type": "message_stop"}


def test_the_simulators_gemini_chunks_hold_every_documented_field():
    sent = [c for _, c in gemini_chunks(Reply(text="Hello there, friend!", timing=FAST),
                                        model="gemini-2.5-flash", prompt_tokens=8, fault=None)]
    assert len(sent) >= 2
    for chunk, documented in ((sent[0], GEMINI[0]), (sent[-1], GEMINI[-1])):
        gaps = covers(shape(chunk), shape(documented), "chunk")
        assert gaps == [], gaps
    assert "finishReason" not in sent[0]["candidates"][0]  # only the last chunk ends it
    counts = [c["usageMetadata"]["candidatesTokenCount"] for c in sent]
    assert counts == sorted(counts)  # running totals, as documented


# --- the mock provider --------------------------------------------------------------------


async def test_the_mock_tells_the_events_the_documented_streams_give():
    for kind, documented, attempts, items in (
            ("anthropic_api", ANTHROPIC, anthropic_attempts, ANTHROPIC),
            ("gemini", GEMINI, gemini_attempts, [wire_chunk(c) for c in GEMINI])):
        recorded = await translate(attempts, items)
        text = "".join(e.text for e in recorded if type(e) is TextDelta)
        mocked = [e async for e in MockProvider(kind).stream(ModelRequest(
            step="s", prompt="hi", mock={"text": text, "timing": {"pattern": "fast"}}))]
        assert kinds(mocked) == kinds(recorded), kind
        assert "".join(e.text for e in mocked if type(e) is TextDelta) == text
