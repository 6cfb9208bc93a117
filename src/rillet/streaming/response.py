"""AsyncResponse: one step's event stream with its metrics.

Lazy (nothing runs until it is iterated), single pass, and it keeps the text as it flows
so `collect()` always returns the model's real text, including after an interruption
(the partial text then sits on the raised StepError).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from time import perf_counter
from typing import Any

from rillet.errors import ProviderError, StepError, StreamConsumedError, StreamIncompleteError
from rillet.events import (
    Event, MessageComplete, ResponseComplete, StreamRetry, TextDelta, ThinkingDelta, ToolHook,
    ToolResult, ToolUse, Usage,
)
from rillet.result import StepResult
from rillet.streaming.metrics import StreamMetrics

# The kept text is a list of pieces; every this many deltas the newest pieces are joined
# into one string, so a long stream holds a few large strings rather than one small
# object per delta (a million deltas would otherwise keep ~70 MB of tiny strings).
JOIN_EVERY = 4096


class AsyncResponse:
    def __init__(self, step: str, source: AsyncIterator[Event], *,
                 metadata: dict[str, Any] | None = None):
        self.step = step
        self.metadata = metadata or {}
        self.metrics = StreamMetrics()
        self.final: ResponseComplete | None = None
        self.tool_uses: list[dict[str, Any]] = []
        self._source = source
        # Joined runs of pieces first, then the pieces since the last join.
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._text_joined = 0  # entries of _text that are joined runs
        self._thinking_joined = 0
        # Where the last finished model message ended: a retry re-sends only the message
        # in flight, so text of earlier messages (before a tool call) is kept. A message's
        # end is always the end of a joined run, so a retry cuts whole entries.
        self._kept_text = 0
        self._kept_thinking = 0
        self._kept_chars = 0
        self._consumed = False
        self._closed = False
        self._iterator: Any = None  # the generator handed out by __aiter__

    @property
    def text(self) -> str:
        """The text received so far (after a retry, the retried message counts once)."""
        return "".join(self._text)

    @property
    def thinking(self) -> str:
        return "".join(self._thinking)

    @property
    def consumed(self) -> bool:
        return self._consumed

    def __aiter__(self) -> AsyncIterator[Event]:
        if self._consumed:
            raise StreamConsumedError(f"the stream of step '{self.step}' was already consumed")
        self._consumed = True
        self._iterator = self._iterate()
        return self._iterator

    async def _iterate(self) -> AsyncIterator[Event]:
        m = self.metrics
        clock = perf_counter
        text, thinking = self._text, self._thinking
        text_limit = thinking_limit = JOIN_EVERY  # list length that triggers the next join
        histogram = m.gap_histogram
        top = len(histogram) - 1
        m.started_at = clock()
        try:
            async for event in self._source:
                kind = type(event)
                # The per-token path: attribute reads, appends and arithmetic, no calls
                # beyond the clock. The gap is recorded inline (StreamMetrics.record_gap's
                # arithmetic): the saved call pays for the join check below.
                if kind is TextDelta or kind is ThinkingDelta:
                    now = clock()
                    last = m.last_delta_at
                    if last is None:
                        if m.first_token_at is None:
                            m.first_token_at = now
                    else:
                        gap = now - last
                        if gap > m.max_gap_s:
                            m.max_gap_s = gap
                        m.gap_total_s += gap
                        bucket = int(gap * 1_000_000).bit_length()
                        histogram[bucket if bucket < top else top] += 1
                    m.last_delta_at = now
                    m.deltas += 1
                    piece = event.text
                    if kind is TextDelta:
                        text.append(piece)
                        m.text_chars += len(piece)
                        if len(text) >= text_limit:
                            self._text_joined = _join_tail(text, self._text_joined)
                            text_limit = self._text_joined + JOIN_EVERY
                    else:
                        thinking.append(piece)
                        if len(thinking) >= thinking_limit:
                            self._thinking_joined = _join_tail(thinking, self._thinking_joined)
                            thinking_limit = self._thinking_joined + JOIN_EVERY
                elif kind is Usage:
                    m.input_tokens = event.input_tokens
                    m.output_tokens = event.output_tokens
                    if event.cost_usd is not None:
                        m.cost_usd = event.cost_usd
                elif kind is ToolUse:
                    self.tool_uses.append(
                        {"id": event.tool_use_id, "name": event.name, "input": event.input})
                elif kind is ToolResult:
                    for use in self.tool_uses:
                        if use["id"] == event.tool_use_id:
                            use["result"] = event.content
                            use["is_error"] = event.is_error
                elif kind is ToolHook:  # a built-in hook's verdict, kept with its call
                    for use in self.tool_uses:
                        if use["id"] == event.tool_use_id:
                            use.setdefault("hooks", []).append(
                                {"hook": event.hook, "event": event.hook_event,
                                 "decision": event.decision, "reason": event.reason})
                elif kind is StreamRetry:
                    m.retries += 1
                    if event.whole:  # every message of the step comes again
                        self._kept_text = self._kept_thinking = self._kept_chars = 0
                        self.tool_uses.clear()
                    del text[self._kept_text:]
                    del thinking[self._kept_thinking:]
                    self._text_joined, self._thinking_joined = len(text), len(thinking)
                    text_limit = self._text_joined + JOIN_EVERY
                    thinking_limit = self._thinking_joined + JOIN_EVERY
                    m.text_chars = self._kept_chars
                elif kind is ResponseComplete:
                    self.final = event
                    m.input_tokens = event.input_tokens or m.input_tokens
                    m.output_tokens = event.output_tokens or m.output_tokens
                    if event.cost_usd is not None:
                        m.cost_usd = event.cost_usd
                elif kind is MessageComplete:
                    # Join what this message added, so its end is an entry boundary.
                    self._text_joined = self._kept_text = _join_tail(text, self._text_joined)
                    self._thinking_joined = self._kept_thinking = _join_tail(
                        thinking, self._thinking_joined)
                    text_limit = self._text_joined + JOIN_EVERY
                    thinking_limit = self._thinking_joined + JOIN_EVERY
                    self._kept_chars = m.text_chars
                yield event
        except (asyncio.CancelledError, GeneratorExit):
            m.interrupted = True
            raise
        finally:
            m.ended_at = clock()
            await self._close_source()

    async def collect(self) -> StepResult:
        """Drain what is left of the stream and return the step's result.

        Raises StepError (with the partial text) when the stream failed, was interrupted,
        or ended without the provider's final result.
        """
        if not self._consumed:
            try:
                async for _ in self:
                    pass
            except asyncio.CancelledError:
                raise
            except ProviderError as exc:
                raise StepError(self.step, str(exc), partial_text=self.text, cause=exc) from exc
        return self.result()

    def result(self) -> StepResult:
        """The result of a stream that has been iterated to its end."""
        if self.metrics.interrupted:
            raise StepError(self.step, "the stream was interrupted", partial_text=self.text,
                            cancelled=True)
        if self.final is None:
            exc = StreamIncompleteError()
            raise StepError(self.step, str(exc), partial_text=self.text, cause=exc)
        if self.final.is_error:
            exc = ProviderError(self.final.error or "the provider reported an error")
            raise StepError(self.step, str(exc), partial_text=self.text, cause=exc)
        return self.partial_result(status="completed")

    def partial_result(self, *, status: str, error: str | None = None) -> StepResult:
        """What the stream produced so far, whatever state it is in."""
        final = self.final
        m = self.metrics
        return StepResult(
            step=self.step, text=self.text, status=status, thinking=self.thinking,
            tool_uses=list(self.tool_uses),
            model=final.model if final else self.metadata.get("model"),
            stop_reason=final.stop_reason if final else None,
            session_id=final.session_id if final else None,
            input_tokens=m.input_tokens, output_tokens=m.output_tokens,
            # No price and tokens spent: the cost is unknown, never a made-up $0.
            cost_usd=m.cost_usd if m.cost_usd is not None
            else (None if m.input_tokens or m.output_tokens else 0.0),
            num_turns=final.num_turns if final else 0,
            metrics=m.to_dict(), error=error, output=final.output if final else None,
        )

    async def aclose(self) -> None:
        """Stop the stream: the provider closes its request and any subprocess."""
        if not self._consumed:
            self._consumed = True
            self.metrics.interrupted = True
        elif self._iterator is not None:
            # A consumer that broke out of its loop left our generator suspended: closing it
            # records the interruption and the end time, then closes the source.
            await self._iterator.aclose()
        await self._close_source()

    async def _close_source(self) -> None:
        if self._closed:
            return
        self._closed = True
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> AsyncResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _join_tail(parts: list[str], start: int) -> int:
    """Join `parts[start:]` into one entry in place; returns the new number of entries."""
    if len(parts) - start > 1:
        parts[start:] = ["".join(parts[start:])]
    return len(parts)
