"""What the simulator reads from a request: the prompt, a returned tool result, and the
input token count."""

from __future__ import annotations

from rillet.sim.requests import (
    anthropic_input_tokens, anthropic_prompt, gemini_prompt, gemini_prompt_tokens, turn_reply)
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
