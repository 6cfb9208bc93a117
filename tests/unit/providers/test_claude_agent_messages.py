"""ClaudeMessageTranslator: SDK message objects in, rillet events out.

The message sequences here copy what the bundled CLI really delivers (recorded against a
local server): an AssistantMessage per content block arriving *before* that block's
content_block_stop, a cut-off stream closed by a synthetic content_block_stop +
message_stop with no message_delta, then an `api_retry` notice and the whole message again.
"""

from __future__ import annotations

from typing import Any

import pytest
from claude_agent_sdk import (
    AssistantMessage, ResultMessage, StreamEvent, SystemMessage, UserMessage,
)
from claude_agent_sdk.types import TextBlock, ThinkingBlock, ToolResultBlock, ToolUseBlock

from rillet.errors import ProviderError
from rillet.events import (
    MessageComplete, ResponseComplete, StreamRetry, TextDelta, ThinkingDelta, ToolResult,
    ToolUse, Usage,
)
from rillet.providers.claude_agent.messages import ClaudeMessageTranslator, tool_result_text
from rillet.streaming.response import AsyncResponse

MODEL = "claude-sonnet-4-5"


def se(event: dict[str, Any], parent: str | None = None) -> StreamEvent:
    return StreamEvent(uuid="u", session_id="s1", event=event, parent_tool_use_id=parent)


def message_start(msg_id: str = "msg_1", input_tokens: int = 10) -> StreamEvent:
    return se({"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": MODEL, "content": [],
        "usage": {"input_tokens": input_tokens, "output_tokens": 1}}})


def block_start(kind: str = "text", index: int = 0, **extra: Any) -> StreamEvent:
    block = {"type": kind, **({"text": ""} if kind == "text" else {}), **extra}
    return se({"type": "content_block_start", "index": index, "content_block": block})


def text(piece: str, index: int = 0) -> StreamEvent:
    return se({"type": "content_block_delta", "index": index,
               "delta": {"type": "text_delta", "text": piece}})


def tool_json(partial: str, index: int = 0) -> StreamEvent:
    return se({"type": "content_block_delta", "index": index,
               "delta": {"type": "input_json_delta", "partial_json": partial}})


def block_stop(index: int = 0) -> StreamEvent:
    return se({"type": "content_block_stop", "index": index})


def message_end(stop_reason: str = "end_turn", output_tokens: int = 3) -> list[StreamEvent]:
    return [se({"type": "message_delta", "delta": {"stop_reason": stop_reason},
                "usage": {"output_tokens": output_tokens}}),
            se({"type": "message_stop"})]


def assistant(*blocks: Any, msg_id: str | None = "msg_1", model: str = MODEL,
              error: str | None = None, parent: str | None = None) -> AssistantMessage:
    return AssistantMessage(content=list(blocks), model=model, message_id=msg_id, error=error,
                            parent_tool_use_id=parent)


def init() -> SystemMessage:
    return SystemMessage("init", {"type": "system", "subtype": "init", "session_id": "s1",
                                  "model": MODEL})


def api_retry(status: int | None = None) -> SystemMessage:
    return SystemMessage("api_retry", {"type": "system", "subtype": "api_retry", "attempt": 1,
                                       "error_status": status, "error": "unknown"})


def result(*, is_error: bool = False, subtype: str = "success", status: int | None = None,
           text: str | None = "done", cost: float | None = 0.00033,
           usage: dict[str, Any] | None = None, num_turns: int = 1) -> ResultMessage:
    return ResultMessage(
        subtype=subtype, duration_ms=500, duration_api_ms=400, is_error=is_error,
        num_turns=num_turns, session_id="s1", stop_reason="end_turn", total_cost_usd=cost,
        usage={"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 4,
               "cache_creation_input_tokens": 2} if usage is None else usage,
        result=text, api_error_status=status)


def run(messages: list[Any], step: str = "s") -> list[Any]:
    translator = ClaudeMessageTranslator(step)
    return [event for message in messages for event in translator.translate(message)]


def a_text_turn(words: list[str]) -> list[Any]:
    return [init(), message_start(), block_start(), *[text(w) for w in words],
            assistant(TextBlock("".join(words))), block_stop(), *message_end(), result()]


def test_text_turn_streams_each_delta_and_ends_with_the_result():
    events = run(a_text_turn(["Hello", " there", "."]))
    assert [type(e).__name__ for e in events] == [
        "Usage", "TextDelta", "TextDelta", "TextDelta", "Usage", "MessageComplete", "Usage",
        "ResponseComplete"]
    assert "".join(e.text for e in events if type(e) is TextDelta) == "Hello there."
    final = events[-1]
    assert final == ResponseComplete("s", model=MODEL, stop_reason="end_turn", input_tokens=10,
                                     output_tokens=20, cost_usd=0.00033, session_id="s1",
                                     num_turns=1, duration_ms=500)
    assert events[-2] == Usage("s", 10, 20, 0.00033, cache_read_tokens=4, cache_write_tokens=2)


def test_assistant_message_does_not_repeat_streamed_text():
    events = run(a_text_turn(["only", " once"]))
    assert [e.text for e in events if type(e) is TextDelta] == ["only", " once"]


def test_unstreamed_assistant_message_text_is_kept():
    # The CLI's non-streaming fallback delivers a message with no stream events at all.
    events = run([init(), assistant(ThinkingBlock("hm", "sig"), TextBlock("whole answer"),
                                    msg_id="msg_9"), result()])
    assert [(type(e), e.text) for e in events if type(e) in (TextDelta, ThinkingDelta)] == [
        (ThinkingDelta, "hm"), (TextDelta, "whole answer")]


def test_stream_event_fast_path_returns_the_text_delta_itself():
    translator = ClaudeMessageTranslator("s")
    translator.stream_event(message_start())
    translator.stream_event(block_start())
    assert translator.stream_event(text("tok")) == TextDelta("s", "tok")


def test_retry_notice_after_streamed_text_voids_it_exactly_once():
    broken = [message_start(), block_start(), text("Hel"), text("lo"), block_stop(),
              se({"type": "message_stop"})]  # the CLI's closing of the cut-off stream
    events = run([init(), *broken, api_retry(), message_start(), block_start(), text("Hel"),
                  text("lo"), text("!"), assistant(TextBlock("Hello!")), block_stop(),
                  *message_end(), result()])
    retries = [e for e in events if type(e) is StreamRetry]
    assert len(retries) == 1 and retries[0].attempt == 1
    # The cut-off message is not reported as a completed one.
    assert sum(type(e) is MessageComplete for e in events) == 1


async def test_step_text_holds_retried_text_once():
    messages = [init(), message_start(), block_start(), text("Hel"), block_stop(),
                se({"type": "message_stop"}), api_retry(), message_start(), block_start(),
                text("Hel"), text("lo"), block_stop(), *message_end(), result()]

    async def source():
        translator = ClaudeMessageTranslator("s")
        for message in messages:
            for event in translator.translate(message):
                yield event

    step = await AsyncResponse("s", source()).collect()
    assert step.text == "Hello"
    assert step.metrics["retries"] == 1


def test_new_message_start_without_notice_is_one_retry():
    events = run([message_start(), block_start(), text("a"), message_start(), block_start(),
                  text("a"), text("b"), block_stop(), *message_end(), result()])
    assert sum(type(e) is StreamRetry for e in events) == 1


def test_retry_before_any_text_voids_nothing():
    events = run([init(), api_retry(529), *a_text_turn(["ok"])[1:]])
    assert not any(type(e) is StreamRetry for e in events)


def tool_turn(with_assistant: bool = True) -> list[Any]:
    tool_block = [block_start("tool_use", id="toolu_1", name="Bash", input={}),
                  tool_json('{"command": '), tool_json('"echo hi"}')]
    after = [assistant(ToolUseBlock("toolu_1", "Bash", {"command": "echo hi"}))] \
        if with_assistant else []
    return [init(), message_start(), *tool_block, *after, block_stop(),
            *message_end("tool_use", 5),
            UserMessage([ToolResultBlock("toolu_1", "hi", False)]),
            message_start("msg_2"), block_start(), text("It said hi."), block_stop(),
            *message_end(), result(num_turns=2)]


@pytest.mark.parametrize("with_assistant", [True, False])
def test_tool_round_reports_one_tool_use_and_its_result(with_assistant):
    events = run(tool_turn(with_assistant))
    assert [e for e in events if type(e) is ToolUse] == [
        ToolUse("s", "toolu_1", "Bash", {"command": "echo hi"})]
    assert [e for e in events if type(e) is ToolResult] == [ToolResult("s", "toolu_1", "hi")]
    assert events[-1].num_turns == 2


def test_tool_use_only_in_assistant_message_is_reported():
    events = run([assistant(ToolUseBlock("toolu_7", "Read", {"path": "a"}), msg_id="m7")])
    assert events == [ToolUse("s", "toolu_7", "Read", {"path": "a"})]


def test_tool_input_cut_off_by_a_retry_is_not_an_error():
    events = run([message_start(), block_start("tool_use", id="t1", name="Bash"),
                  tool_json('{"comm'), block_stop(), se({"type": "message_stop"}), api_retry(),
                  message_start(), block_start("tool_use", id="t1", name="Bash"),
                  tool_json('{"command": "ls"}'), block_stop(), *message_end("tool_use")])
    assert [e for e in events if type(e) is ToolUse] == [ToolUse("s", "t1", "Bash",
                                                                  {"command": "ls"})]


def test_malformed_tool_input_in_a_finished_message_is_an_error():
    with pytest.raises(ProviderError) as info:
        run([message_start(), block_start("tool_use", id="t1", name="Bash"),
             tool_json('{"comm'), block_stop(), *message_end("tool_use")])
    assert info.value.kind == "malformed"


def test_subagent_traffic_is_not_the_steps_answer():
    events = run([text("sub", 0), se(text("x").event, parent="toolu_9"),
                  assistant(TextBlock("sub"), ToolUseBlock("t2", "Read", {}), parent="toolu_9"),
                  UserMessage([ToolResultBlock("t2", "x")], parent_tool_use_id="toolu_9")])
    assert [type(e) for e in events] == [TextDelta]


def test_tool_result_content_lists_become_text():
    assert tool_result_text([{"type": "text", "text": "a"}, {"type": "image"}]) == "a\n[image]"
    assert tool_result_text(None) == ""


def test_synthetic_error_text_is_never_step_text_and_the_error_keeps_the_cost():
    translator = ClaudeMessageTranslator("draft")
    events = []
    with pytest.raises(ProviderError) as info:
        for message in [init(), api_retry(529),
                        assistant(TextBlock("API Error: 529 Overloaded"), model="<synthetic>",
                                  error="server_error", msg_id="x"),
                        result(is_error=True, status=529, text="API Error: 529 Overloaded",
                               cost=0.0001)]:
            events.extend(translator.translate(message))
    assert not any(type(e) is TextDelta for e in events)
    assert events[-1] == Usage("draft", 10, 20, 0.0001, 4, 2)
    assert info.value.kind == "overloaded" and info.value.retryable
    assert "step 'draft'" in str(info.value) and "try again later" in str(info.value)
    assert translator.final is not None and translator.final.is_error


@pytest.mark.parametrize(("kwargs", "assistant_error", "kind", "phrase"), [
    ({"status": 401, "text": "Failed to authenticate"}, "authentication_failed", "auth",
     "claude auth login"),
    ({"status": 429}, "rate_limit", "rate_limit", "rate limited"),
    ({"status": 529}, None, "overloaded", "after the CLI's retries"),
    ({"subtype": "error_max_budget_usd", "text": None}, None, "budget", "max_budget_usd"),
    ({"subtype": "error_max_turns", "text": None}, None, "max_turns", "max_turns"),
    ({"status": 400, "text": "bad"}, None, "invalid_request", "rejected"),
    ({"text": "API Error: Connection refused (ECONNREFUSED)"}, None, "network", "reach"),
    ({"text": "Request timed out"}, None, "timeout", "timed out"),
    ({"status": 500, "text": "boom"}, None, "api", "boom"),
])
def test_error_results_map_to_a_kind_and_a_hint(kwargs, assistant_error, kind, phrase):
    messages = [init()]
    if assistant_error:
        messages.append(assistant(TextBlock("API Error"), model="<synthetic>",
                                  error=assistant_error, msg_id="x"))
    messages.append(result(is_error=True, **kwargs))
    with pytest.raises(ProviderError) as info:
        run(messages, step="review")
    assert info.value.kind == kind
    assert phrase in str(info.value) and "'review'" in str(info.value)


def test_model_falls_back_to_the_init_model_without_stream_events():
    events = run([init(), result()])
    assert events[-1].model == MODEL and events[-1].session_id == "s1"


def test_prompt_cache_tokens_are_carried_into_usage_and_summed_over_messages():
    from rillet.providers.anthropic_api.events import AnthropicEventTranslator

    translator = AnthropicEventTranslator("s")
    cached = {"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 100,
              "cache_creation_input_tokens": 40}
    start = translator.translate({"type": "message_start", "message": {"usage": cached}})
    assert (start.cache_read_tokens, start.cache_write_tokens) == (100, 40)
    # message_delta usage often leaves the cache figures out: the message's own stay.
    end = translator.translate({"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                                "usage": {"output_tokens": 7}})
    assert (end.input_tokens, end.output_tokens) == (5, 7)
    assert (end.cache_read_tokens, end.cache_write_tokens) == (100, 40)
    translator.translate({"type": "message_stop"})
    translator.translate({"type": "message_start", "message": {"usage": {
        "input_tokens": 9, "output_tokens": 1, "cache_read_input_tokens": 140}}})
    last = translator.translate({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                 "usage": {"output_tokens": 3}})
    assert (last.input_tokens, last.output_tokens) == (14, 10)
    assert (last.cache_read_tokens, last.cache_write_tokens) == (240, 40)
