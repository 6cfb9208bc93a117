"""What the HTTP providers share: the signal that a stream broke mid-way, the loop that
retries it, and how they hold their SDK client.

The Anthropic and Gemini providers (and the mock, replaying the simulator) each open a
request as one "attempt". When its connection ends before the stream does, the attempt
raises StreamDropped; the loop then voids what the attempt streamed (StreamRetry) and
opens the next one, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from rillet.errors import ProviderError
from rillet.events import Event, StreamRetry
from rillet.providers import clients
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
    """Base of the Anthropic API and Gemini providers: the retry settings, and the SDK
    client, shared with every other step and run of the process (`clients`), made by the
    subclass's `_new_client(base_url, step=...)` and closed by its `_close_client`."""

    # The environment that decides where a live client sends requests and as whom.
    CLIENT_ENV: tuple[str, ...] = ()

    def __init__(self, *, mode: Mode, base_url: str | None = None,
                 stream_retries: int = STREAM_RETRIES, retry_delay_s: float | None = None):
        self.mode = mode
        self.base_url = base_url
        self.stream_retries = stream_retries
        self.retry_delay_s = (retry_delay_s if retry_delay_s is not None
                              else 0.0 if mode == "sim" else STREAM_RETRY_DELAY_S)

    def _new_client(self, base_url: str | None, *, step: str | None) -> Any:
        raise NotImplementedError

    @staticmethod
    async def _close_client(client: Any) -> None:
        raise NotImplementedError

    def _client_key(self, base_url: str | None) -> tuple[Any, ...]:
        env = () if self.mode == "sim" else tuple(os.environ.get(n) for n in self.CLIENT_ENV)
        return (self.name, self.mode, base_url, env)  # type: ignore[attr-defined]

    def warm(self, base_url: str | None) -> None:
        """Start importing the SDK and making the client in the background."""
        clients.warm(self._client_key(base_url),
                     lambda: self._new_client(base_url, step=None), self._close_client)

    async def _client_for(self, request: ModelRequest) -> Any:
        base_url = request.base_url
        return await clients.shared_client(
            self._client_key(base_url),
            lambda: self._new_client(base_url, step=request.step), self._close_client)

    async def aclose(self) -> None:
        """Nothing of its own to close: the client outlives the run (see `clients`)."""
