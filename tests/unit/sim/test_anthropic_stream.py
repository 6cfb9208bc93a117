"""The Anthropic Messages API event stream the simulator and the mock provider share."""

from __future__ import annotations

import json
import time

import pytest

from rillet.sim.anthropic_stream import anthropic_error, anthropic_events, anthropic_message
from rillet.sim.script import Fault, Reply, Timing, ToolCall, count_tokens

FAST = Timing(pattern="fast")


def events(reply, fault=None, input_tokens=7):
    return list(anthropic_events(reply, model="claude-sim", input_tokens=input_tokens,
                                 fault=fault))


def shape(items):
    """Each event as its type, with the delta type for deltas; faults as fault:<kind>."""
    out = []
    for _, item in items:
        if type(item) is Fault:
            out.append(f"fault:{item.kind}")
        elif item["type"] == "content_block_delta":
            out.append(item["delta"]["type"])
        elif item["type"] == "content_block_start":
            out.append(f"start:{item['content_block']['type']}")
        else:
            out.append(item["type"])
    return out


def text_of(items, delta_type="text_delta", key="text"):
    return "".join(e["delta"][key] for _, e in items
                   if type(e) is dict and e.get("delta", {}).get("type") == delta_type)


def test_a_text_reply_streams_as_the_api_does():
    items = events(Reply(text="Hello there, world.", timing=FAST))
    assert shape(items) == ["message_start", "start:text", "ping"] + ["text_delta"] * 5 + [
        "content_block_stop", "message_delta", "message_stop"]
    assert text_of(items) == "Hello there, world."
    start = items[0][1]["message"]
    assert start["id"].startswith("msg_sim_") and start["model"] == "claude-sim"
    assert start["usage"] == {"input_tokens": 7, "output_tokens": 1,
                              "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    assert items[1][1]["content_block"] == {"type": "text", "text": ""}
    final = items[-2][1]
    assert final["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert final["usage"] == {"output_tokens": 5}


def test_thinking_comes_first_with_its_signature_then_the_text():
    items = events(Reply(thinking="Let me see.", text="Yes.", timing=FAST))
    assert shape(items) == [
        "message_start",
        "start:thinking", "ping", "thinking_delta", "thinking_delta", "thinking_delta",
        "thinking_delta", "signature_delta", "content_block_stop",
        "start:text", "text_delta", "text_delta", "content_block_stop",
        "message_delta", "message_stop"]
    assert text_of(items, "thinking_delta", "thinking") == "Let me see."
    assert [e["index"] for _, e in items if "index" in e] == [0] * 7 + [1] * 4
    assert items[-2][1]["usage"]["output_tokens"] == 6  # 4 thinking + 2 text


def test_a_tool_call_streams_its_input_as_json_and_stops_for_the_tool():
    items = events(Reply(text="", tool_use=ToolCall(name="Bash", input={"command": "ls"}),
                         timing=FAST))
    kinds = shape(items)
    assert kinds[:3] == ["message_start", "start:tool_use", "ping"]
    assert kinds[3:-3] == ["input_json_delta"] * (len(kinds) - 6)
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    block = items[1][1]["content_block"]
    assert block["id"].startswith("toolu_sim_") and block["name"] == "Bash"
    assert block["input"] == {}
    raw = text_of(items, "input_json_delta", "partial_json")
    assert json.loads(raw) == {"command": "ls"}
    assert items[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert items[-2][1]["usage"]["output_tokens"] == count_tokens(raw)


def test_text_before_a_tool_call_is_its_own_block():
    items = events(Reply(text="Listing.", tool_use=ToolCall(name="Bash"), timing=FAST))
    starts = [k for k in shape(items) if k.startswith("start:")]
    assert starts == ["start:text", "start:tool_use"]


@pytest.mark.parametrize("kind", ["drop", "stall", "malformed"])
def test_a_mid_stream_fault_comes_right_after_its_delta(kind):
    fault = Fault(kind=kind, after_deltas=2)
    items = events(Reply(text="one two three four", timing=FAST), fault)
    kinds = shape(items)
    assert kinds[:6] == ["message_start", "start:text", "ping", "text_delta", "text_delta",
                         f"fault:{kind}"]
    assert kinds[6:] == ["text_delta", "text_delta", "content_block_stop", "message_delta",
                         "message_stop"]
    assert items[5] == (0.0, fault)


def test_a_fault_counts_deltas_across_blocks():
    items = events(Reply(thinking="a b", text="c d", timing=FAST), Fault(kind="drop",
                                                                         after_deltas=3))
    kinds = shape(items)
    assert kinds.index("fault:drop") == kinds.index("start:text") + 2  # 2 thinking + 1 text


def test_a_fault_after_the_last_delta_comes_before_the_message_ends():
    items = events(Reply(text="short", timing=FAST), Fault(kind="drop", after_deltas=1))
    assert shape(items)[-5:] == ["text_delta", "fault:drop", "content_block_stop",
                                 "message_delta", "message_stop"]
    late = events(Reply(text="short", timing=FAST), Fault(kind="drop", after_deltas=50))
    assert shape(late)[-4:] == ["content_block_stop", "fault:drop", "message_delta",
                                "message_stop"]


def test_http_errors_are_not_in_the_stream():
    items = events(Reply(text="ok", timing=FAST), Fault(kind="http_error"))
    assert "fault:http_error" not in shape(items)


def test_timing_puts_the_first_token_delay_before_message_start_then_paces_deltas():
    items = events(Reply(text="a b c d", timing=Timing(pattern="slow")))
    assert items[0][0] == 0.5
    assert [d for d, e in items if e.get("delta", {}).get("type") == "text_delta"] == [0.05] * 4
    assert {d for d, e in items if e.get("type") != "content_block_delta"} - {0.5} == {0.0}


def test_chunked_timing_sends_several_tokens_per_delta():
    text = " ".join(f"w{i}" for i in range(20))  # 20 tokens
    items = events(Reply(text=text, timing=Timing(pattern="chunked")))
    deltas = [e["delta"]["text"] for _, e in items if e.get("type") == "content_block_delta"]
    assert [count_tokens(d) for d in deltas] == [8, 8, 4]
    assert items[-2][1]["usage"]["output_tokens"] == 20


def test_output_tokens_repeats_the_text_to_that_many_tokens():
    items = events(Reply(text="Hello world.", output_tokens=10, timing=FAST))
    text = text_of(items)
    assert text == "Hello world. Hello world. Hello world. Hello"
    assert count_tokens(text) == 10
    assert items[-2][1]["usage"]["output_tokens"] == 10


def test_a_reply_model_overrides_the_request_model():
    assert events(Reply(text="x", model="claude-test", timing=FAST))[0][1]["message"][
        "model"] == "claude-test"


def test_the_non_streaming_message_holds_the_same_content_and_usage():
    reply = Reply(thinking="Hmm.", text="Hi there.",
                  tool_use=ToolCall(name="Read", input={"path": "a"}), timing=FAST)
    body = anthropic_message(reply, model="claude-sim", input_tokens=3)
    assert [b["type"] for b in body["content"]] == ["thinking", "text", "tool_use"]
    assert body["content"][1]["text"] == "Hi there."
    assert body["content"][2]["input"] == {"path": "a"}
    assert body["stop_reason"] == "tool_use"
    streamed = events(reply, input_tokens=3)[-2][1]["usage"]["output_tokens"]
    assert body["usage"]["output_tokens"] == streamed
    assert body["usage"]["input_tokens"] == 3


@pytest.mark.parametrize(("status", "etype", "retry_after"), [
    (529, "overloaded_error", "0"), (429, "rate_limit_error", "0"),
    (500, "api_error", None), (401, "authentication_error", None),
    (400, "invalid_request_error", None)])
def test_errors_have_the_api_shape(status, etype, retry_after):
    got_status, body, headers = anthropic_error(status)
    assert got_status == status
    assert body["type"] == "error" and body["error"]["type"] == etype
    assert headers.get("retry-after") == retry_after


def test_fast_generation_never_waits_between_deltas():
    """The mock provider runs on this path: fast timing must not pace it at all. The bar
    only catches a sleep per delta (which caps the rate near 1,000/s); the figure itself
    (several million per second) is measured by the bench suite, not here."""
    reply = Reply(text="word " * 100, output_tokens=200_000, timing=FAST)
    started = time.perf_counter()
    count = sum(1 for _ in anthropic_events(reply, model="m", input_tokens=1, fault=None))
    rate = (count - 6) / (time.perf_counter() - started)
    assert rate > 50_000
