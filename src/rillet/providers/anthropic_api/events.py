"""Translate raw Anthropic Messages API stream events into rillet events.

The Claude Agent SDK hands these over as `StreamEvent.event` dicts, the simulator produces
them, and the mock provider replays them, so all three share this one translation. One raw
event gives at most one rillet event, which keeps the per-token path free of list building.
"""

from __future__ import annotations

import json
from typing import Any

from rillet.errors import ProviderError
from rillet.events import Event, MessageComplete, StreamRetry, TextDelta, ThinkingDelta, ToolUse, Usage


class AnthropicEventTranslator:
    def __init__(self, step: str, *, text_tool: str | None = None):
        self.step = step
        # The tool whose input is the step's answer (the Claude CLI's StructuredOutput):
        # its JSON streams as text, and it is not reported as a tool call.
        self.text_tool = text_tool
        self._text_block: int | None = None
        self.model: str | None = None
        self.stop_reason: str | None = None
        self.messages = 0
        self.retries = 0
        # Totals over every message of the step; the current message's figures are added
        # when it ends, so a retried message is not counted twice.
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_read_tokens = 0
        self.cache_write_tokens = 0
        self._message_input = 0
        self._message_cache = (0, 0)  # (read, write) of the message in flight
        self._message_has_output = False
        # True from message_start until message_delta: a message_stop while it is still
        # open marks a message cut off mid-stream (the Claude CLI closes a broken stream
        # that way before it retries), not a completed one.
        self._message_open = False
        # Tool input that did not parse: an error only if the message really ends.
        self._broken_tool_input: str | None = None
        self._blocks: dict[int, dict[str, Any]] = {}

    def restart(self, reason: str) -> StreamRetry | None:
        """The provider is re-sending the current message. Returns the StreamRetry that
        voids its text when some was already streamed, else None; a second signal for
        the same retry (the new message_start after an api_retry notice) finds nothing
        left to void and returns None."""
        self._blocks.clear()
        self._text_block = None
        self._broken_tool_input = None
        if not self._message_has_output:
            return None
        self._message_has_output = False
        self.retries += 1
        return StreamRetry(self.step, self.retries, reason)

    def translate(self, event: dict[str, Any]) -> Event | None:
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event["delta"]
            dtype = delta.get("type")
            if dtype == "text_delta":
                self._message_has_output = True
                return TextDelta(self.step, delta["text"])
            if dtype == "thinking_delta":
                self._message_has_output = True
                return ThinkingDelta(self.step, delta["thinking"])
            if dtype == "input_json_delta":
                if event.get("index", 0) == self._text_block:
                    self._message_has_output = True
                    return TextDelta(self.step, delta.get("partial_json", ""))
                block = self._blocks.get(event.get("index", 0))
                if block is not None:
                    block["json"].append(delta.get("partial_json", ""))
                return None
            return None  # signature_delta, citations: nothing a listener needs
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use" and block.get("name") == self.text_tool \
                    and self.text_tool is not None:
                self._text_block = event.get("index", 0)
            elif block.get("type") in ("tool_use", "server_tool_use"):
                self._blocks[event.get("index", 0)] = {
                    "id": block.get("id", ""), "name": block.get("name", ""), "json": []}
            return None
        if kind == "content_block_stop":
            if event.get("index", 0) == self._text_block:
                self._text_block = None
                return None
            block = self._blocks.pop(event.get("index", 0), None)
            if block is None:
                return None
            raw = "".join(block["json"])
            try:
                arguments = json.loads(raw) if raw else {}
            except ValueError:
                # A stream cut off inside the input gets a closing content_block_stop
                # too; only a message that goes on to end makes this an error.
                self._broken_tool_input = raw
                return None
            return ToolUse(self.step, block["id"], block["name"], arguments)
        if kind == "message_start":
            message = event.get("message") or {}
            self.model = message.get("model") or self.model
            usage = message.get("usage") or {}
            self.messages += 1
            self._message_input = int(usage.get("input_tokens") or 0)
            self._message_cache = _cache_tokens(usage, (0, 0))
            self._message_open = True
            # A new message while the previous one never ended: the text is coming again.
            retry = self.restart("the message restarted mid-stream")
            if retry is not None:
                return retry
            read, write = self._message_cache
            return Usage(self.step, self.input_tokens + self._message_input, self.output_tokens,
                         None, self.cache_read_tokens + read, self.cache_write_tokens + write)
        if kind == "message_delta":
            if self._broken_tool_input is not None:
                raw, self._broken_tool_input = self._broken_tool_input, None
                raise ProviderError(f"tool input is not valid JSON: {raw[:80]!r}",
                                    kind="malformed")
            self._message_open = False
            delta = event.get("delta") or {}
            self.stop_reason = delta.get("stop_reason") or self.stop_reason
            usage = event.get("usage") or {}
            if usage.get("input_tokens"):
                self._message_input = int(usage["input_tokens"])
            read, write = _cache_tokens(usage, self._message_cache)
            self.input_tokens += self._message_input
            self.output_tokens += int(usage.get("output_tokens") or 0)
            self.cache_read_tokens += read
            self.cache_write_tokens += write
            self._message_input = 0
            self._message_cache = (0, 0)
            self._message_has_output = False
            return Usage(self.step, self.input_tokens, self.output_tokens, None,
                         self.cache_read_tokens, self.cache_write_tokens)
        if kind == "message_stop":
            if self._message_open:
                return None  # cut off: a retry or an error follows
            return MessageComplete(self.step, self.stop_reason, self.model)
        if kind == "error":
            error = event.get("error") or {}
            etype = error.get("type", "api_error")
            raise ProviderError(f"{etype}: {error.get('message', 'the API reported an error')}",
                                kind=_ERROR_KINDS.get(etype, "api"),
                                retryable=etype in ("overloaded_error", "rate_limit_error"))
        return None  # ping and anything newer


def _cache_tokens(usage: dict[str, Any], default: tuple[int, int]) -> tuple[int, int]:
    """(cache read, cache write) input tokens from a usage dict; `default` where the API
    left them out (message_delta usage repeats them only sometimes)."""
    read = usage.get("cache_read_input_tokens")
    write = usage.get("cache_creation_input_tokens")
    return (default[0] if read is None else int(read),
            default[1] if write is None else int(write))


_ERROR_KINDS = {
    "overloaded_error": "overloaded",
    "rate_limit_error": "rate_limit",
    "authentication_error": "auth",
    "permission_error": "auth",
    "invalid_request_error": "invalid_request",
}
