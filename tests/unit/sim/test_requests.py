"""What the simulator reads from a request: the prompt, a returned tool result, and the
input token count."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rillet.errors import ProviderError
from rillet.sim.requests import (
    anthropic_input_tokens, anthropic_prompt, gemini_prompt, gemini_prompt_tokens,
    gemini_responses_sent, gemini_turn, turn_reply)
from rillet.sim.script import Reply, ToolCall, count_tokens


def test_the_prompt_is_the_last_user_text_without_cli_reminders():
    body = {"messages": [
        {"role": "user", "content": "an earlier question"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>\nsome context\n</system-reminder>"},
            {"type": "text", "text": "Review my code"}]},
        {"role": "system", "content": "CLI-side system entry"}]}
    assert anthropic_prompt(body) == ("Review my code", False)


def test_a_tool_result_turn_keeps_the_prompt_that_asked_for_the_tool():
    body = {"messages": [
        {"role": "user", "content": "list the files"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash",
                                           "input": {"command": "ls"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                      "content": "a.txt"}]}]}
    assert anthropic_prompt(body) == ("list the files", True)


def test_input_tokens_count_the_system_prompt_and_every_message():
    body = {"system": [{"type": "text", "text": "You are terse."}],
            "messages": [{"role": "user", "content": "Hello there"},
                         {"role": "assistant", "content": [
                             {"type": "tool_use", "id": "t", "name": "x", "input": {"a": 1}}]},
                         {"role": "user", "content": [
                             {"type": "tool_result", "tool_use_id": "t",
                              "content": [{"type": "text", "text": "done"}]}]}]}
    expected = (count_tokens("You are terse.") + count_tokens("Hello there")
                + count_tokens('{"a": 1}') + count_tokens("done"))
    assert anthropic_input_tokens(body) == expected


def test_gemini_prompt_skips_thoughts_and_sees_function_responses():
    body = {"systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [{"role": "user", "parts": [{"text": "find owls"}]},
                         {"role": "model", "parts": [{"functionCall": {"name": "f"}}]},
                         {"role": "user", "parts": [{"functionResponse": {"name": "f"}}]}]}
    assert gemini_prompt(body) == ("find owls", True)
    assert gemini_prompt({"contents": [{"parts": [{"text": "plain"}]}]}) == ("plain", False)
    assert gemini_prompt_tokens({"systemInstruction": {"parts": [{"text": "Be brief."}]},
                                 "contents": [{"parts": [{"text": "find owls"}]}]}) == 5


def test_a_tool_reply_answers_with_the_call_first_and_its_text_after_the_result():
    reply = Reply(text="Done.", thinking="plan", tool_use=ToolCall(name="Bash"))
    first, second = turn_reply(reply, False), turn_reply(reply, True)
    assert (first.text, first.tool_use.name, first.thinking) == ("", "Bash", "plan")
    assert (second.text, second.tool_use, second.thinking) == ("Done.", None, None)
    plain = Reply(text="x")
    assert turn_reply(plain, True) is plain


def gemini_body(rounds: int) -> dict:
    contents = [{"role": "user", "parts": [{"text": "weather please"}]}]
    for _ in range(rounds):
        contents += [{"role": "model", "parts": [{"functionCall": {"name": "w"}}]},
                     {"role": "user", "parts": [{"functionResponse": {"name": "w"}}]}]
    return {"contents": contents}


def test_gemini_counts_the_turns_of_function_responses_sent():
    assert [gemini_responses_sent(gemini_body(n)) for n in range(3)] == [0, 1, 2]


def test_a_gemini_reply_calls_for_function_rounds_turns_then_answers():
    calls = [ToolCall(name="w", input={"city": "Paris"}),
             ToolCall(name="w", input={"city": "Oslo"})]
    reply = Reply(text="Done.", thinking="plan", function_calls=calls, function_rounds=2)
    turns = [gemini_turn(reply, n) for n in range(3)]
    assert [(t.text, len(t.calls), t.thinking) for t in turns] == [
        ("", 2, "plan"), ("", 2, None), ("Done.", 0, None)]
    plain = Reply(text="Hi")
    assert gemini_turn(plain, 4) is plain


def test_gemini_only_reply_keys_are_refused_for_the_anthropic_wire():
    reply = Reply(text="Done.", function_calls=[ToolCall(name="w")])
    with pytest.raises(ProviderError, match="function_calls and function_rounds script Gemini"):
        turn_reply(reply, False)
    with pytest.raises(ValidationError, match="give tool_use .* or function_calls"):
        Reply(tool_use=ToolCall(name="a"), function_calls=[ToolCall(name="b")])
