"""Translate Gemini stream chunks into rillet events, and the attempt loop around them.

The translator reads a chunk by the attribute names of google-genai's
`GenerateContentResponse` (candidates[0].content.parts, usage_metadata, ...). The real
provider hands it the SDK's objects; the mock provider hands it `wire_chunk(d)`: the
simulator's JSON chunk in the same shape, built with small slotted classes instead of
the SDK's pydantic models (parsing a chunk costs the SDK ~100 µs; this ~2 µs). Both then
go through the same translator and the same attempt loop, so they emit the same events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from typing import Any

from rillet.errors import ProviderError, StreamIncompleteError
from rillet.events import (
    Event, MessageComplete, StreamRetry, TextDelta, ThinkingDelta, ToolUse, Usage,
)
from rillet.providers.attempts import retried_attempts


class GeminiChunkTranslator:
    """One step's chunks in, rillet events out. Pure: no I/O, no clock."""

    def __init__(self, step: str, *, tools_before: int = 0, retries_before: int = 0,
                 keep_parts: bool = False):
        self.step = step
        self.model: str | None = None
        self.finish_reason: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_tokens = 0
        self.retries = retries_before
        # With `keep_parts`, the current attempt's parts as they came (the model's turn, to
        # send back with function responses: thought signatures and all); its calls always.
        self.keep_parts = keep_parts
        self.parts: list[Any] = []
        self.calls: list[ToolUse] = []
        self.call_ids: list[str | None] = []  # the ids the model gave them (often none)
        self.tools = tools_before  # function calls numbered across the step's requests
        self._has_output = False  # the current attempt streamed text or thoughts
        self._usage_told = False  # a Usage was sent for the current message

    def translate(self, chunk: Any) -> Iterator[Event]:
        step = self.step
        candidates = chunk.candidates
        candidate = candidates[0] if candidates else None
        content = candidate.content if candidate is not None else None
        parts = content.parts if content is not None else None
        if parts:
            if self.keep_parts:
                self.parts.extend(parts)
            for part in parts:
                text = part.text
                if text:
                    self._has_output = True
                    if part.thought:
                        yield ThinkingDelta(step, text)
                    else:
                        yield TextDelta(step, text)
                elif part.function_call is not None:
                    yield self._tool_use(part.function_call)
        usage = chunk.usage_metadata
        if usage is not None:
            # Running figures for the request; thoughts are billed as output. Gemini counts
            # cached tokens inside the prompt count; rillet's input_tokens leave them out
            # (as Anthropic's do) so the price table bills them once, at the cache rate.
            cached = usage.cached_content_token_count or 0
            input_tokens = (usage.prompt_token_count or 0) - cached
            output_tokens = (usage.candidates_token_count or 0) + (
                usage.thoughts_token_count or 0)
            changed = input_tokens != self.input_tokens or output_tokens != self.output_tokens
            self.input_tokens, self.output_tokens, self.cached_tokens = \
                input_tokens, output_tokens, cached
            # Every chunk carries the running figures; told when the message starts (the
            # prompt's cost) and when it ends, not after every delta.
            if changed and not self._usage_told:
                self._usage_told = True
                yield Usage(step, input_tokens, output_tokens, cache_read_tokens=cached)
        if candidate is not None and candidate.finish_reason is not None:
            if self._usage_told:
                yield Usage(step, self.input_tokens, self.output_tokens,
                            cache_read_tokens=self.cached_tokens)
            self._usage_told = False
            reason = candidate.finish_reason
            self.finish_reason = str(getattr(reason, "value", reason))
            self.model = chunk.model_version or self.model
            yield MessageComplete(step, self.finish_reason, self.model)

    def _tool_use(self, call: Any) -> ToolUse:
        self.tools += 1
        self._has_output = True
        use = ToolUse(self.step, call.id or f"{call.name}-{self.tools}", call.name or "",
                      dict(call.args or {}))
        self.calls.append(use)
        self.call_ids.append(call.id or None)
        return use

    def restart(self, reason: str) -> StreamRetry | None:
        """The request is being sent again: what the broken attempt streamed is void."""
        self.finish_reason = None
        self._usage_told = False
        self.parts, self.calls, self.call_ids = [], [], []
        if not self._has_output:
            return None
        self._has_output = False
        self.retries += 1
        return StreamRetry(self.step, self.retries, reason)


OpenAttempt = Callable[[int], AsyncIterator[Any]]


async def request_events(translator: GeminiChunkTranslator, open_attempt: OpenAttempt, *,
                         retries: int, delay_s: float = 0.0) -> AsyncIterator[Event]:
    """One request's chunks from `open_attempt(n)` as rillet events (no ResponseComplete:
    a step may send several requests, see `calls.gemini_events`). A StreamDropped from an
    attempt voids it (StreamRetry) and opens the next one, `retries` times at most.
    Closing this generator closes the open attempt."""
    step = translator.step
    translate = translator.translate
    attempts = retried_attempts(open_attempt, translator.restart, api="the Gemini API",
                                step=step, retries=retries, delay_s=delay_s)
    async with aclosing(attempts):
        async for item in attempts:
            if type(item) is StreamRetry:
                yield item
                continue
            for event in translate(item):
                yield event
    if translator.finish_reason is None:
        raise StreamIncompleteError(
            f"the Gemini stream for step '{step}' ended without a finish reason: the answer "
            f"may be cut short, so it is not taken as complete")


# --- errors -------------------------------------------------------------------------------

# The status codes the SDK's retries cover (its defaults, plus 529 which some
# Gemini-compatible servers send for "overloaded").
RETRY_STATUSES = (408, 429, 500, 502, 503, 504, 529)


def status_error(step: str, status: int, status_name: str | None, detail: str,
                 attempts: int) -> ProviderError:
    """A failed request (after the SDK's retries) as a ProviderError that says what to do."""
    where = f"for step '{step}'"
    what = f"HTTP {status}{' ' + status_name if status_name else ''}: {detail}"
    tried = f"after {attempts} attempts" if attempts > 1 else "at once"
    if status in (401, 403):
        return ProviderError(f"the Gemini API rejected the credentials {where} ({what}); set "
                             f"GEMINI_API_KEY (or GOOGLE_API_KEY) to a valid key", kind="auth",
                             status=status)
    if status == 429:
        return ProviderError(f"rate limited by the Gemini API {where} {tried} ({what}); wait "
                             f"and try again", kind="rate_limit", status=status, retryable=True)
    if status in (503, 529):
        return ProviderError(f"the Gemini API is overloaded {where} {tried} ({what}); try "
                             f"again later", kind="overloaded", status=status, retryable=True)
    if status in (400, 404, 413, 422):
        return ProviderError(f"the Gemini API rejected the request {where} ({what}); check "
                             f"the step's model and token_budget", kind="invalid_request",
                             status=status)
    return ProviderError(f"the Gemini API failed {where} {tried} ({what})", kind="api",
                         status=status, retryable=status >= 500)


def malformed_error(step: str, detail: str) -> ProviderError:
    return ProviderError(f"the Gemini API sent a chunk that is not valid JSON for step "
                         f"'{step}' ({detail}); the stream cannot be trusted past it",
                         kind="malformed")


# --- the wire format in the SDK's shape (mock provider) -------------------------------------


class _Chunk:
    __slots__ = ("candidates", "usage_metadata", "model_version")

    def __init__(self, candidates: list[_Candidate] | None, usage_metadata: _Usage | None,
                 model_version: str | None):
        self.candidates = candidates
        self.usage_metadata = usage_metadata
        self.model_version = model_version


class _Candidate:
    __slots__ = ("content", "finish_reason")

    def __init__(self, content: _Content | None, finish_reason: str | None):
        self.content = content
        self.finish_reason = finish_reason


class _Content:
    __slots__ = ("parts",)

    def __init__(self, parts: list[_Part] | None):
        self.parts = parts


class _Part:
    __slots__ = ("text", "thought", "function_call", "wire")

    def __init__(self, text: str | None, thought: bool | None, function_call: Any,
                 wire: dict[str, Any]):
        self.text = text
        self.thought = thought
        self.function_call = function_call
        self.wire = wire  # the part's JSON, sent back as the model's turn


class _FunctionCall:
    __slots__ = ("id", "name", "args")

    def __init__(self, id: str | None, name: str | None, args: dict[str, Any] | None):
        self.id = id
        self.name = name
        self.args = args


class _Usage:
    __slots__ = ("prompt_token_count", "candidates_token_count", "thoughts_token_count",
                 "cached_content_token_count")

    def __init__(self, usage: dict[str, Any]):
        self.prompt_token_count = usage.get("promptTokenCount")
        self.candidates_token_count = usage.get("candidatesTokenCount")
        self.thoughts_token_count = usage.get("thoughtsTokenCount")
        self.cached_content_token_count = usage.get("cachedContentTokenCount")


def wire_chunk(data: dict[str, Any]) -> _Chunk:
    """A streamGenerateContent JSON chunk with the attribute names the SDK gives it."""
    candidates = []
    for raw in data.get("candidates") or ():
        content = raw.get("content")
        parts = None
        if content is not None:
            parts = []
            for part in content.get("parts") or ():
                call = part.get("functionCall")
                parts.append(_Part(part.get("text"), part.get("thought"), None if call is None
                                   else _FunctionCall(call.get("id"), call.get("name"),
                                                      call.get("args")), part))
        candidates.append(_Candidate(None if content is None else _Content(parts),
                                     raw.get("finishReason")))
    usage = data.get("usageMetadata")
    return _Chunk(candidates or None, None if usage is None else _Usage(usage),
                  data.get("modelVersion"))
