"""The SDK messages the Claude CLI would deliver for a simulator reply, built in-process.

The mock provider feeds these through `ClaudeMessageTranslator`, the same code the real
provider uses, so a mock run emits the events a real run against the simulator emits.
The shapes copy what the bundled CLI delivers (recorded against the simulator):

- `SystemMessage("init")`, then `SystemMessage("status")` as each API request starts;
- a `StreamEvent` per raw API event, except `ping`, which the CLI does not forward;
- an `AssistantMessage` per content block, just *before* that block's content_block_stop;
- around a tool call, the built-in hooks (claude_options.hooks), as the CLI runs them: a
  denied call's result is the CLI's hook error;
- after a tool_use turn, a `UserMessage` with the tool's result and a second request
  answered by the reply's text (the simulator's two-turn split; the mock does not run the
  tool, and its result says so);
- for a failed request, `SystemMessage("api_retry")` and the request again, or, when the
  CLI would give up, its made-up error message and an error `ResultMessage`;
- a final `ResultMessage` with the token totals and the cost;
- with output_schema, one request whose answer is a StructuredOutput call, the CLI's
  acknowledgement as its result, and the object as the ResultMessage's structured_output.

What differs from a real run: timing (the CLI adds ~1 ms per message and takes ~0.3 s to
start, and waits between retries), input token counts (the CLI adds its own context to
the prompt), tool output, the cost, which here comes from rillet's price table, and what
the CLI does on its own: reading CLAUDE.md and compacting a long conversation
(memory_config) happen in a real CLI only.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from claude_agent_sdk import (
    AssistantMessage, ResultMessage, StreamEvent, SystemMessage, UserMessage,
)
from claude_agent_sdk.types import TextBlock, ThinkingBlock, ToolResultBlock, ToolUseBlock

from rillet.sim.structured import STRUCTURED_TOOL

# What the CLI answers the model's StructuredOutput call with (recorded).
STRUCTURED_RESULT = "Structured output provided successfully"
CLI_MAX_RETRIES = 10  # the CLI's default (CLAUDE_CODE_MAX_RETRIES)
# Measured with the bundled CLI against the simulator: it retries every failed status
# (400 and 401 included) except these, which end the run at once.
_CLI_NO_RETRY = frozenset({403, 413})
_CLI_ERROR_CLASS = {401: "authentication_failed", 403: "authentication_failed",
                    429: "rate_limit", 400: "invalid_request", 413: "invalid_request"}


def mock_sdk_messages(reply: Any, *, step: str, model: str, prompt: str, session_id: str,
                      input_tokens: int, take_fault: Callable[[Any], Any] | None = None,
                      max_retries: int = CLI_MAX_RETRIES,
                      tool_hook: Callable[[str, ToolUseBlock], str | None] | None = None,
                      ) -> Iterator[tuple[float, object]]:
    """(seconds to wait, SDK message or mid-stream `Fault`) pairs for one step.

    Mid-stream faults come through as they are: the caller acts on them as the
    simulator's transport would. `take_fault`, when given (a `Script.take_fault`), is
    asked once per simulated API request, exactly as the simulator asks it per HTTP
    request, so http_error faults play out as the CLI's retries. `step` and `prompt`
    name the request; the script has already resolved them into `reply`. `tool_hook`,
    when given, is called as the CLI calls its hooks around a tool call (PreToolUse, then,
    unless that denied it, PostToolUse) and returns a deny reason or None."""
    from rillet.sim.anthropic_stream import anthropic_events
    from rillet.sim.requests import turn_reply

    yield 0.0, SystemMessage("init", {
        "type": "system", "subtype": "init", "session_id": session_id, "model": model,
        "cwd": "", "tools": [], "mcp_servers": [], "permissionMode": "default",
        "uuid": _uuid()})
    totals = {"input": 0, "output": 0}
    # The CLI ends the turn once the model has called StructuredOutput: no second request.
    answer = reply.tool_use is not None and reply.tool_use.name == STRUCTURED_TOOL
    turns = [turn_reply(reply, False), turn_reply(reply, True)] \
        if reply.tool_use is not None and not answer else [reply]
    for number, turn in enumerate(turns, start=1):
        failure = yield from _failed_attempts(turn, take_fault, session_id, max_retries)
        if failure is not None:
            yield from _gave_up(failure, model=model, session_id=session_id, turns=number)
            return
        yield 0.0, _status(session_id)
        tool_use: ToolUseBlock | None = None
        denied: str | None = None
        events = anthropic_events(turn, model=model, input_tokens=input_tokens,
                                  fault=turn.fault)
        for delay, item in _assistant_turn(events, session_id=session_id, totals=totals):
            if type(item) is ToolUseBlock:
                tool_use = item
                if tool_hook is not None and number < len(turns):
                    # The CLI runs PreToolUse hooks as soon as the tool_use block is whole.
                    denied = tool_hook("PreToolUse", item)
            else:
                yield delay, item
        if tool_use is not None and number < len(turns):
            if denied is not None:
                from rillet.providers.claude_agent.hooks import denied_result

                text = denied_result("PreToolUse", tool_use.name, denied)
                yield 0.0, UserMessage([ToolResultBlock(tool_use.id, text, True)],
                                       uuid=_uuid(), tool_use_result=f"Error: {text}")
                continue
            if tool_hook:
                tool_hook("PostToolUse", tool_use)
            yield 0.0, UserMessage(
                [ToolResultBlock(tool_use.id, f"(mock run: {tool_use.name} was not run)",
                                 False)],
                uuid=_uuid(), tool_use_result={"stdout": "", "stderr": ""})
        elif tool_use is not None and answer:
            yield 0.0, UserMessage(
                [ToolResultBlock(tool_use.id, STRUCTURED_RESULT, False)], uuid=_uuid(),
                tool_use_result=STRUCTURED_RESULT)
    yield 0.0, ResultMessage(
        subtype="success", duration_ms=0, duration_api_ms=0, is_error=False,
        num_turns=len(turns) + answer, session_id=session_id,
        stop_reason=_stop_reason(turns[-1]),
        structured_output=reply.tool_use.input if answer else None,  # type: ignore[union-attr]
        total_cost_usd=_price(reply.model or model, totals["input"], totals["output"]),
        usage={"input_tokens": totals["input"], "output_tokens": totals["output"],
               "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        result=None, uuid=_uuid())


def _failed_attempts(reply: Any, take_fault: Callable[[Any], Any] | None,
                     session_id: str, max_retries: int = CLI_MAX_RETRIES
                     ) -> Iterator[tuple[float, object]]:
    """The CLI's retry notices for requests the script fails with an HTTP error. Returns
    the status it finally gives up on, or None once a request goes through."""
    if take_fault is None:
        return None
    for attempt in range(1, max_retries + 2):
        fault = take_fault(reply)
        if fault is None or fault.kind != "http_error":
            return None
        if fault.status in _CLI_NO_RETRY or attempt > max_retries:
            return int(fault.status)
        yield 0.0, SystemMessage("api_retry", {
            "type": "system", "subtype": "api_retry", "attempt": attempt,
            "max_retries": max_retries, "retry_delay_ms": 0, "error_status": fault.status,
            "error": _CLI_ERROR_CLASS.get(fault.status, "server_error"),
            "session_id": session_id, "uuid": _uuid()})
    return None


def _gave_up(status: int, *, model: str, session_id: str, turns: int
             ) -> Iterator[tuple[float, object]]:
    text = f"API Error: {status} (simulated)"
    yield 0.0, AssistantMessage(
        [TextBlock(text)], model="<synthetic>", message_id=_uuid(), session_id=session_id,
        error=_CLI_ERROR_CLASS.get(status, "server_error"), uuid=_uuid())  # type: ignore[arg-type]
    yield 0.0, ResultMessage(
        subtype="success", duration_ms=0, duration_api_ms=0, is_error=True, num_turns=turns,
        session_id=session_id, total_cost_usd=0.0, result=text, api_error_status=status,
        usage={"input_tokens": 0, "output_tokens": 0}, uuid=_uuid())


def _assistant_turn(events: Iterator[tuple[float, Any]], *, session_id: str,
                    totals: dict[str, int]) -> Iterator[tuple[float, object]]:
    """StreamEvents for one API response, with the AssistantMessage for each finished
    block slipped in before its content_block_stop, as the CLI does. A ToolUseBlock is
    also yielded (bare) so the caller knows a tool result must follow."""
    message: dict[str, Any] = {}
    blocks: dict[int, dict[str, Any]] = {}
    for delay, item in events:
        if type(item) is not dict:
            yield delay, item  # a mid-stream Fault
            continue
        kind = item["type"]
        if kind == "ping":
            continue
        if kind == "message_start":
            message = item["message"]
            totals["input"] += int(message["usage"].get("input_tokens") or 0)
        elif kind == "content_block_start":
            blocks[item["index"]] = {**item["content_block"], "pieces": []}
        elif kind == "content_block_delta":
            _accumulate(blocks[item["index"]], item["delta"])
        elif kind == "content_block_stop":
            block = _sdk_block(blocks.pop(item["index"]))
            yield 0.0, AssistantMessage(
                [block], model=message.get("model", ""), usage=message.get("usage"),
                message_id=message.get("id"), session_id=session_id, uuid=_uuid())
            if type(block) is ToolUseBlock:
                yield 0.0, block
        elif kind == "message_delta":
            totals["output"] += int((item.get("usage") or {}).get("output_tokens") or 0)
        yield delay, StreamEvent(next(_event_ids), session_id, item)


def _accumulate(block: dict[str, Any], delta: dict[str, Any]) -> None:
    # Pieces are joined once at the block's end: appending to a string per delta would
    # make a long reply quadratic.
    kind = delta["type"]
    if kind == "text_delta":
        block["pieces"].append(delta["text"])
    elif kind == "thinking_delta":
        block["pieces"].append(delta["thinking"])
    elif kind == "signature_delta":
        block["signature"] = delta["signature"]
    elif kind == "input_json_delta":
        block["pieces"].append(delta["partial_json"])


def _sdk_block(block: dict[str, Any]) -> Any:
    kind = block["type"]
    joined = "".join(block["pieces"])  # the block's text, thinking or tool input
    if kind == "thinking":
        return ThinkingBlock(joined, block.get("signature", ""))
    if kind == "tool_use":
        return ToolUseBlock(block["id"], block["name"], json.loads(joined) if joined else {})
    return TextBlock(joined)


def _stop_reason(reply: Any) -> str:
    from rillet.sim.anthropic_stream import stop_reason

    return stop_reason(reply)


def _status(session_id: str) -> SystemMessage:
    return SystemMessage("status", {"type": "system", "subtype": "status",
                                    "status": "requesting", "session_id": session_id,
                                    "uuid": _uuid()})


def _price(model: str, input_tokens: int, output_tokens: int) -> float | None:
    try:
        from rillet.providers.pricing import price_usd
    except ImportError:  # the price table is another helper's module; without it, no cost
        return None
    return price_usd(model, input_tokens, output_tokens)


def _uuid() -> str:
    return str(uuid.uuid4())


# Stream events get cheap unique ids (one per token: a uuid4 each was a third of the
# mock's time); nothing reads them but for telling events apart.
_event_ids = (f"mock-event-{n}" for n in itertools.count(1))
