"""What the providers' attempt loops share: the signal that a stream broke mid-way.

The Anthropic and Gemini providers (and the mock, replaying the simulator) each open a
request as one "attempt". When its connection ends before the stream does, the attempt
raises StreamDropped; the loop then voids what the attempt streamed (StreamRetry) and
opens the next one, a bounded number of times.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from rillet.events import Event


class StreamDropped(Exception):
    """The connection ended in the middle of a stream; the attempt loop may retry."""


async def failed_stream(error: BaseException) -> AsyncIterator[Event]:
    """A stream that raises `error` when first iterated: a provider's `stream()` reports
    a bad request where the consumer reads events, as for any other failure."""
    raise error
    yield  # pragma: no cover - makes this an async generator
