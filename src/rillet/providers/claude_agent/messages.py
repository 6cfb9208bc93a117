"""Translate the Claude Agent SDK's message objects into rillet events.

The SDK (with `include_partial_messages=True`) delivers, per turn: a `SystemMessage`
(`init`), `StreamEvent`s wrapping the raw Messages API events (the true token deltas),
an `AssistantMessage` per content block (repeating what the stream events already
carried), `UserMessage`s with tool results, and one final `ResultMessage`. The stream
events go through the shared `AnthropicEventTranslator`; this class adds what only the
CLI knows: retries, tool results, cost, and the final result or error.

The real provider and the mock provider both feed their messages through this class, so
a mock run emits exactly the events a real run does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from claude_agent_sdk import (
    AssistantMessage, ResultMessage, StreamEvent, SystemMessage, UserMessage,
)
from claude_agent_sdk.types import (
    ServerToolResultBlock, ServerToolUseBlock, TextBlock, ThinkingBlock, ToolResultBlock,
    ToolUseBlock,
)

from rillet.errors import ProviderError
from rillet.events import (
    Event, ResponseComplete, TextDelta, ThinkingDelta, ToolResult, ToolUse, Usage,
)
from rillet.providers.anthropic_api.events import AnthropicEventTranslator

# The CLI's stand-in model name on the assistant message it makes up to carry an API
# error ("API Error: 529 Overloaded…"): that text is a diagnostic, not model output.
SYNTHETIC_MODEL = "<synthetic>"
# The tool the CLI gives the model when asked for structured output (--json-schema).
STRUCTURED_TOOL = "StructuredOutput"


class ClaudeMessageTranslator:
    """One step's SDK messages in, rillet events out. Pure: no I/O, no clock."""

    def __init__(self, step: str, *, structured: bool = False):
        self.step = step
        # With output_schema the CLI's StructuredOutput tool carries the answer: its input
        # streams as the step's text and the call itself is not a tool use of the step.
        self.stream = AnthropicEventTranslator(
            step, text_tool=STRUCTURED_TOOL if structured else None)
        self.session_id: str | None = None
        self.final: ResponseComplete | None = None
        self.finished = False  # the result arrived (an error result too)
        # The CLI's classification of an API failure (authentication_failed, rate_limit…),
        # from the synthetic assistant message that precedes an error result.
        self.assistant_error: str | None = None
        self._init_model: str | None = None
        self._tool_ids: set[str] = set()
        self._answer_ids: set[str] = set()  # StructuredOutput calls
        self._streamed_message_ids: set[str] = set()

    # -- the per-token path ---------------------------------------------------------------

    def stream_event(self, message: StreamEvent) -> Event | None:
        """A StreamEvent's rillet event, if any. Called once per token: keep it lean."""
        if message.parent_tool_use_id is not None:
            return None  # a subagent's own stream, not this step's answer
        event = self.stream.translate(message.event)
        if type(event) is TextDelta:
            return event
        return self._after_stream_event(message.event, event)

    def _after_stream_event(self, raw: dict[str, Any], event: Event | None) -> Event | None:
        if type(event) is ToolUse:
            if event.tool_use_id in self._tool_ids:
                return None  # already reported from the assistant message
            self._tool_ids.add(event.tool_use_id)
        elif raw.get("type") == "message_start":
            message_id = (raw.get("message") or {}).get("id")
            if message_id:
                self._streamed_message_ids.add(message_id)
        return event

    # -- everything else --------------------------------------------------------------------

    def translate(self, message: object) -> Iterator[Event]:
        """The events for one SDK message. Raises ProviderError for an error result, after
        yielding the Usage that carries what the failed run cost."""
        kind = type(message)
        if kind is StreamEvent:
            event = self.stream_event(message)  # type: ignore[arg-type]
            if event is not None:
                yield event
        elif kind is AssistantMessage:
            yield from self._assistant(message)  # type: ignore[arg-type]
        elif kind is UserMessage:
            yield from self._tool_results(message)  # type: ignore[arg-type]
        elif kind is ResultMessage:
            yield from self._result(message)  # type: ignore[arg-type]
        elif isinstance(message, SystemMessage):
            event = self._system(message)
            if event is not None:
                yield event
        # Anything else (rate-limit notices, task progress, hook events) carries nothing a
        # step's listeners need; an error they announce arrives as an error result.

    def _system(self, message: SystemMessage) -> Event | None:
        if message.subtype == "init":
            self.session_id = message.data.get("session_id") or self.session_id
            self._init_model = message.data.get("model") or self._init_model
            return None
        if message.subtype == "api_retry":
            # The CLI is about to send the request again. If the broken attempt already
            # streamed text, that text comes again from the start: void it now. The new
            # message_start that follows then finds nothing to void (one retry, one event).
            data = message.data
            status = data.get("error_status")
            reason = (f"the API request failed ({status or data.get('error') or 'error'}); "
                      f"the CLI retries (attempt {data.get('attempt', '?')})")
            return self.stream.restart(reason)
        return None

    def _assistant(self, message: AssistantMessage) -> Iterator[Event]:
        if message.error:
            self.assistant_error = message.error
        if message.parent_tool_use_id is not None or message.model == SYNTHETIC_MODEL:
            return
        # Its blocks repeat what the stream events carried. Text is re-emitted only for a
        # message that never streamed (the CLI's non-streaming fallback), so it is never
        # lost and never doubled.
        ids = self._streamed_message_ids
        streamed = message.message_id in ids or (message.message_id is None and bool(ids))
        for block in message.content:
            block_type = type(block)
            if block_type is ToolUseBlock and block.name == self.stream.text_tool:  # type: ignore
                self._answer_ids.add(block.id)  # type: ignore[union-attr]
                if not streamed:
                    yield TextDelta(self.step, json.dumps(block.input))  # type: ignore
            elif block_type is ToolUseBlock or block_type is ServerToolUseBlock:
                if block.id not in self._tool_ids:  # type: ignore[union-attr]
                    self._tool_ids.add(block.id)  # type: ignore[union-attr]
                    yield ToolUse(self.step, block.id, block.name,  # type: ignore[union-attr]
                                  dict(block.input))  # type: ignore[union-attr]
            elif block_type is ServerToolResultBlock:
                yield ToolResult(self.step, block.tool_use_id,  # type: ignore[union-attr]
                                 json.dumps(block.content))  # type: ignore[union-attr]
            elif streamed:
                continue
            elif block_type is TextBlock:
                yield TextDelta(self.step, block.text)  # type: ignore[union-attr]
            elif block_type is ThinkingBlock:
                yield ThinkingDelta(self.step, block.thinking)  # type: ignore[union-attr]

    def _tool_results(self, message: UserMessage) -> Iterator[Event]:
        if message.parent_tool_use_id is not None or isinstance(message.content, str):
            return  # a subagent's tool traffic, or a replayed/injected prompt
        for block in message.content:
            if type(block) is ToolResultBlock and block.tool_use_id not in self._answer_ids:
                yield ToolResult(self.step, block.tool_use_id, tool_result_text(block.content),
                                 bool(block.is_error))

    def _result(self, message: ResultMessage) -> Iterator[Event]:
        self.finished = True
        usage = message.usage or {}
        input_tokens = int(usage.get("input_tokens") or 0)
        output_tokens = int(usage.get("output_tokens") or 0)
        self.session_id = message.session_id or self.session_id
        error = result_error_text(message) if message.is_error else None
        self.final = ResponseComplete(
            self.step, model=self._model(message), stop_reason=message.stop_reason,
            input_tokens=input_tokens, output_tokens=output_tokens,
            cost_usd=message.total_cost_usd, session_id=self.session_id,
            num_turns=message.num_turns, duration_ms=message.duration_ms,
            is_error=message.is_error, error=error, output=message.structured_output)
        yield Usage(self.step, input_tokens, output_tokens, message.total_cost_usd,
                    int(usage.get("cache_read_input_tokens") or 0),
                    int(usage.get("cache_creation_input_tokens") or 0))
        if message.is_error:
            raise result_error(self.step, message, self.assistant_error)
        yield self.final

    def _model(self, message: ResultMessage) -> str | None:
        if self.stream.model:
            return self.stream.model
        if message.model_usage:
            return next(iter(message.model_usage))
        return self._init_model


def tool_result_text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for item in content:
        if item.get("type") == "text":
            parts.append(str(item.get("text", "")))
        else:
            parts.append(f"[{item.get('type', 'content')}]")  # images and the like
    return "\n".join(parts)


def result_error_text(message: ResultMessage) -> str:
    """The most telling text of an error result (the SDK's own order of preference)."""
    errors = [e.strip() for e in message.errors or [] if isinstance(e, str) and e.strip()]
    if errors:
        return "; ".join(errors)
    if message.result and message.result.strip():
        return message.result.strip()
    if message.subtype and message.subtype != "success":
        return message.subtype
    if message.api_error_status is not None:
        return f"API error (HTTP {message.api_error_status})"
    return "unknown error"


def result_error(step: str, message: ResultMessage,
                 assistant_error: str | None = None) -> ProviderError:
    """Map an error result to a ProviderError whose kind says what went wrong and whose
    text says what to do."""
    status = message.api_error_status
    detail = result_error_text(message)
    lowered = detail.lower()
    where = f"for step '{step}'"
    if message.subtype == "error_max_budget_usd":
        spent = f" (spent ${message.total_cost_usd:.4f})" if message.total_cost_usd else ""
        return ProviderError(f"the max_budget_usd limit was reached {where}{spent}; raise "
                             f"claude_options.max_budget_usd to let it finish", kind="budget")
    if message.subtype == "error_max_turns":
        return ProviderError(f"the max_turns limit was reached {where} after "
                             f"{message.num_turns} turns; raise claude_options.max_turns",
                             kind="max_turns")
    if status in (401, 403) or assistant_error == "authentication_failed":
        return ProviderError(f"authentication failed {where}: set ANTHROPIC_API_KEY or run "
                             f"`claude auth login` ({detail})", kind="auth", status=status)
    if status == 429 or assistant_error == "rate_limit":
        return ProviderError(f"rate limited {where} after the CLI's retries; wait and try "
                             f"again ({detail})", kind="rate_limit", status=status,
                             retryable=True)
    if status == 529 or "overloaded" in lowered:
        return ProviderError(f"the API is overloaded {where} after the CLI's retries; try "
                             f"again later ({detail})", kind="overloaded", status=status,
                             retryable=True)
    if status in (400, 413) or assistant_error == "invalid_request":
        return ProviderError(f"the API rejected the request {where} ({detail})",
                             kind="invalid_request", status=status)
    if status is None and ("connection" in lowered or "econn" in lowered):
        return ProviderError(f"could not reach the API {where} ({detail})", kind="network",
                             retryable=True)
    if status is None and "timed out" in lowered:
        return ProviderError(f"the API timed out {where} ({detail})", kind="timeout",
                             retryable=True)
    return ProviderError(f"the Claude CLI reported an error {where} ({detail})", kind="api",
                         status=status, retryable=status is not None and status >= 500)
