"""What the HTTP providers share: the signal that a stream broke mid-way, the loop that
retries it, and how they hold their SDK client.

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
from rillet.providers.base import Mode, ModelRequest


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


STREAM_RETRIES = 2  # a dropped stream is sent again this many times
STREAM_RETRY_DELAY_S = 0.5  # live only: the first wait, doubled each time


class HTTPProvider:
    """Base of the Anthropic API and Gemini providers: the retry settings and one SDK
    client per provider, made by the subclass's `_new_client(base_url, step=...)`."""

    def __init__(self, *, mode: Mode, base_url: str | None = None,
                 stream_retries: int = STREAM_RETRIES, retry_delay_s: float | None = None):
        self.mode = mode
        self.base_url = base_url
        self.stream_retries = stream_retries
        self.retry_delay_s = (retry_delay_s if retry_delay_s is not None
                              else 0.0 if mode == "sim" else STREAM_RETRY_DELAY_S)
        # Made now when it can be (the pool creates providers as a step opens its stream):
        # importing the SDK and building its client take 0.5-1.3 s, which would otherwise
        # fall inside the first step's time to first token.
        self._client: Any = None
        if mode != "sim" or base_url:
            self._client = self._new_client(base_url, step=None)

    def _new_client(self, base_url: str | None, *, step: str | None) -> Any:
        raise NotImplementedError

    def _client_for(self, request: ModelRequest) -> Any:
        if self._client is None:
            self._client = self._new_client(request.base_url, step=request.step)
        return self._client
