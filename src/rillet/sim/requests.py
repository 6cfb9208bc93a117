"""What the simulator reads from a request: the prompt a script rule is matched against,
whether a tool result just came back, and the input token count for usage figures."""

from __future__ import annotations

import json
import re
from typing import Any

from rillet.errors import ProviderError
from rillet.sim.script import Reply, count_tokens

# The Claude CLI adds reminders to the user's turn; they are not what the user asked.
_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)


def turn_reply(reply: Reply, after_tool_result: bool) -> Reply:
    """A tool-calling reply answers in two turns: first the tool call, then (once the
    client sends the tool's result back) the reply's text. Same split as the mock.
    (The Anthropic wire formats; Gemini's turns are `gemini_turn`'s.)"""
    if reply.function_calls is not None or "function_rounds" in reply.model_fields_set:
        raise ProviderError("function_calls and function_rounds script Gemini replies; a "
                            "Claude or Messages API reply calls one tool with tool_use",
                            kind="invalid_request")
    if reply.tool_use is None:
        return reply
    if after_tool_result:
        return reply.model_copy(update={"tool_use": None, "thinking": None})
    return reply.model_copy(update={"text": ""})


# --- Anthropic ----------------------------------------------------------------------------


def anthropic_prompt(body: dict[str, Any]) -> tuple[str, bool]:
    """(text of the last user message that has text, whether the last user message
    carries a tool_result)."""
    users = [m for m in body.get("messages") or () if isinstance(m, dict)
             and m.get("role") == "user"]
    after_tool = bool(users) and any(
        isinstance(block, dict) and block.get("type") == "tool_result"
        for block in _blocks(users[-1].get("content")))
    for message in reversed(users):
        text = _user_text(message.get("content"))
        if text:
            return text, after_tool
    return "", after_tool


def anthropic_input_tokens(body: dict[str, Any]) -> int:
    """Tokens of all text in the request's system prompt and messages."""
    total = _text_tokens(body.get("system"))
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            total += _text_tokens(message.get("content"))
    return total


def _user_text(content: Any) -> str:
    pieces = [block.get("text", "") for block in _blocks(content)
              if isinstance(block, dict) and block.get("type") == "text"]
    return _REMINDER.sub("", "\n".join(pieces)).strip()


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


def _text_tokens(content: Any) -> int:
    if isinstance(content, str):
        return count_tokens(content)
    total = 0
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            total += count_tokens(block.get("text", ""))
        elif kind == "thinking":
            total += count_tokens(block.get("thinking", ""))
        elif kind == "tool_use":
            total += count_tokens(json.dumps(block.get("input", {})))
        elif kind == "tool_result":
            total += _text_tokens(block.get("content"))
    return total


# --- Gemini -------------------------------------------------------------------------------


def gemini_prompt(body: dict[str, Any]) -> tuple[str, bool]:
    """(text of the last user turn that has text, whether the last user turn carries a
    functionResponse)."""
    users = [c for c in body.get("contents") or () if isinstance(c, dict)
             and c.get("role", "user") == "user"]
    after_tool = bool(users) and any(
        isinstance(part, dict) and "functionResponse" in part
        for part in users[-1].get("parts") or ())
    for content in reversed(users):
        text = "\n".join(part["text"] for part in content.get("parts") or ()
                         if isinstance(part, dict) and isinstance(part.get("text"), str)
                         and not part.get("thought")).strip()
        if text:
            return text, after_tool
    return "", after_tool


def gemini_turn(reply: Reply, responses_sent: int) -> Reply:
    """The reply to a Gemini request after `responses_sent` turns of functionResponse
    parts: its calls (no text) for the first `function_rounds` requests, then its text
    (no calls, no thinking). A reply without calls is the same every time."""
    if not reply.calls:
        return reply
    if responses_sent >= reply.function_rounds:
        return reply.model_copy(update={"tool_use": None, "function_calls": None,
                                        "thinking": None})
    update: dict[str, Any] = {"text": ""}
    if responses_sent:
        update["thinking"] = None  # thoughts come with the first turn only
    return reply.model_copy(update=update)


def gemini_responses_sent(body: dict[str, Any]) -> int:
    """How many user turns of the request carry functionResponse parts."""
    return sum(1 for content in body.get("contents") or ()
               if isinstance(content, dict) and content.get("role", "user") == "user"
               and any(isinstance(part, dict) and "functionResponse" in part
                       for part in content.get("parts") or ()))


def gemini_prompt_tokens(body: dict[str, Any]) -> int:
    total = 0
    system = body.get("systemInstruction") or body.get("system_instruction")
    for content in [system, *(body.get("contents") or ())]:
        if not isinstance(content, dict):
            continue
        for part in content.get("parts") or ():
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                total += count_tokens(part["text"])
            elif "functionResponse" in part or "functionCall" in part:
                total += count_tokens(json.dumps(part))
    return total
