"""What the providers' attempt loops share: the signal that a stream broke mid-way.

The Anthropic and Gemini providers (and the mock, replaying the simulator) each open a
request as one "attempt". When its connection ends before the stream does, the attempt
raises StreamDropped; the loop then voids what the attempt streamed (StreamRetry) and
opens the next one, a bounded number of times.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from rillet.errors import ProviderError
from rillet.events import Event, StreamRetry


class StreamDropped(Exception):
    """The connection ended in the middle of a stream; the attempt loop may retry."""


async def failed_stream(error: BaseException) -> AsyncIterator[Event]:
    """A stream that raises `error` when first iterated: a provider's `stream()` reports
    a bad request where the consumer reads events, as for any other failure."""
    raise error
    yield  # pragma: no cover - makes this an async generator


async def retried_attempts(open_attempt: Callable[[int], AsyncIterator[Any]],
                           restart: Callable[[str], StreamRetry | None], *, api: str,
                           step: str, retries: int, delay_s: float) -> AsyncIterator[Any]:
    """The items of attempt 0, then of attempt 1 once it dropped, and so on. Between two
    attempts comes the StreamRetry `restart(reason)` gives (None: nothing to void). Past
    `retries` a drop is a network ProviderError; the text streamed so far stays with the
    consumer. Closing this generator closes the open attempt."""
    attempt = 0
    while True:
        try:
            async with aclosing(open_attempt(attempt)) as items:  # type: ignore[type-var]
                async for item in items:
                    yield item
            return
        except StreamDropped as exc:
            if attempt >= retries:
                raise ProviderError(
                    f"the connection to {api} dropped mid-stream for step '{step}' ({exc}), "
                    f"and {retries} retries did not get past it; the text streamed so far is "
                    f"kept, run the step again", kind="network", retryable=True) from None
            attempt += 1
            retry = restart(f"the connection dropped mid-stream ({exc}); sending the request "
                            f"again (retry {attempt})")
            if retry is not None:
                yield retry
            if delay_s > 0:
                await asyncio.sleep(delay_s * 2 ** (attempt - 1))
