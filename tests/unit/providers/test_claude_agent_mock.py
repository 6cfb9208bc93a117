"""mock_sdk_messages: the SDK messages the CLI would deliver for a simulator reply.
(That they give the same events as the real CLI is pinned by the integration test
`test_mock_messages_give_the_events_the_real_cli_gives`.)"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
from claude_agent_sdk import (
    AssistantMessage, ResultMessage, StreamEvent, SystemMessage, UserMessage,
)

from rillet.errors import ProviderError
from rillet.events import ResponseComplete, StreamRetry, TextDelta, ToolResult, ToolUse
from rillet.providers.claude_agent.messages import ClaudeMessageTranslator
from rillet.providers.claude_agent.mock import mock_sdk_messages
from rillet.sim.anthropic_stream import anthropic_events
from rillet.sim.script import Fault, Reply, Script, Timing, ToolCall, count_tokens

MODEL = "claude-sonnet-4-5"
TEXT = "Rivers keep time, slowly."


def messages(reply: Reply, **kw: Any) -> list[tuple[float, object]]:
    return list(mock_sdk_messages(reply, step="s", model=MODEL, prompt="p", session_id="m1",
                                  input_tokens=7, **kw))


def events(reply: Reply, **kw: Any) -> list[Any]:
    translator = ClaudeMessageTranslator("s")
    return [e for _, m in messages(reply, **kw) for e in translator.translate(m)]


def fast(**fields: Any) -> Reply:
    return Reply(timing=Timing(pattern="fast"), **fields)


def test_text_reply_has_the_clis_message_shape():
    sequence = [m for _, m in messages(fast(text=TEXT))]
    assert type(sequence[0]) is SystemMessage and sequence[0].subtype == "init"
    assert type(sequence[1]) is SystemMessage and sequence[1].subtype == "status"
    raw = [m.event["type"] for m in sequence if type(m) is StreamEvent]
    assert "ping" not in raw  # the CLI does not forward pings
    assert raw[0] == "message_start" and raw[-2:] == ["message_delta", "message_stop"]
    # The assistant message comes right before its block's content_block_stop.
    at = next(i for i, m in enumerate(sequence) if type(m) is AssistantMessage)
    assert sequence[at].content[0].text == TEXT
    assert sequence[at + 1].event["type"] == "content_block_stop"
    final = sequence[-1]
    assert type(final) is ResultMessage and not final.is_error
    assert final.usage["input_tokens"] == 7
    assert final.usage["output_tokens"] == count_tokens(TEXT)


def test_stream_delays_are_the_simulators():
    reply = Reply(text=TEXT, timing=Timing(pattern="slow", seed=1))
    sim_total = sum(d for d, _ in anthropic_events(reply, model=MODEL, input_tokens=7,
                                                   fault=None))
    assert sum(d for d, _ in messages(reply)) == pytest.approx(sim_total)


def test_events_are_text_then_the_final_result():
    out = events(fast(text=TEXT))
    assert "".join(e.text for e in out if type(e) is TextDelta) == TEXT
    assert type(out[-1]) is ResponseComplete and out[-1].session_id == "m1"
    assert out[-1].output_tokens == count_tokens(TEXT)


def test_tool_reply_plays_two_turns_with_a_tool_result_between():
    reply = fast(text=TEXT, tool_use=ToolCall(name="Bash", input={"command": "ls"}))
    sequence = [m for _, m in messages(reply)]
    assert sum(type(m) is UserMessage for m in sequence) == 1
    out = events(reply)
    assert [e for e in out if type(e) is ToolUse][0].input == {"command": "ls"}
    (result,) = [e for e in out if type(e) is ToolResult]
    assert "not run" in result.content
    assert "".join(e.text for e in out if type(e) is TextDelta) == TEXT
    assert out[-1].num_turns == 2


def test_mid_stream_fault_passes_through_as_is():
    fault = Fault(kind="drop", after_deltas=2)
    items = [m for _, m in messages(fast(text=TEXT, fault=fault))]
    assert items.count(fault) == 1
    assert type(items[items.index(fault) - 1]) is StreamEvent


def test_http_errors_play_out_as_the_clis_retries():
    script = Script.from_dict({"rules": [{"match": "", "text": TEXT, "timing": {
        "pattern": "fast"}, "fault": {"kind": "http_error", "status": 529, "times": 2}}]})
    reply = script.reply_for("p")
    sequence = [m for _, m in messages(reply, take_fault=script.take_fault)]
    retries = [m for m in sequence if type(m) is SystemMessage and m.subtype == "api_retry"]
    assert [m.data["attempt"] for m in retries] == [1, 2]
    translator = ClaudeMessageTranslator("s")
    out = [e for m in sequence for e in translator.translate(m)]
    assert not any(type(e) is StreamRetry for e in out)  # nothing had streamed yet
    assert "".join(e.text for e in out if type(e) is TextDelta) == TEXT
    assert type(out[-1]) is ResponseComplete


@pytest.mark.parametrize(("status", "kind"), [(403, "auth"), (529, "overloaded")])
def test_http_errors_the_cli_gives_up_on_are_error_results(status, kind):
    script = Script.from_dict({"rules": [{"match": "", "text": TEXT, "timing": {
        "pattern": "fast"}, "fault": {"kind": "http_error", "status": status, "times": 50}}]})
    with pytest.raises(ProviderError) as info:
        events(script.reply_for("p"), take_fault=script.take_fault)
    assert info.value.kind == kind


def test_cost_comes_from_the_price_table(monkeypatch):
    table = types.ModuleType("rillet.providers.pricing")
    table.price_usd = lambda model, i, o: (i + o) / 1000  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rillet.providers.pricing", table)
    final = messages(fast(text=TEXT))[-1][1]
    assert final.total_cost_usd == (7 + count_tokens(TEXT)) / 1000


def test_without_a_price_table_the_cost_is_unknown(monkeypatch):
    monkeypatch.setitem(sys.modules, "rillet.providers.pricing", None)
    assert messages(fast(text=TEXT))[-1][1].total_cost_usd is None
