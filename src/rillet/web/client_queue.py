"""One run's events on their way to one client of `rillet serve`, through a bounded queue.

The run is a task of its own that never waits for the client. A client that falls more
than `limit` events behind (it stopped reading, or reads too slowly) is dropped: its
connection is closed, and the run goes on to its end and writes its results, so a stuck
client can neither fill the server's memory nor hold a run slot for ever. A client that
goes away by itself cancels its run, as before: nobody is left to watch it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

CLIENT_QUEUE_EVENTS = 10_000  # events waiting for one client before it is dropped
_END = object()


class RunFeed:
    def __init__(self, events: AsyncIterator[Any], *, limit: int = CLIENT_QUEUE_EVENTS,
                 on_drop: Callable[[], None] = lambda: None):
        self.limit = limit
        self.dropped = False
        self.cancelled = False  # the run was cancelled (the server stopping, the client gone)
        self._on_drop = on_drop
        self._queue: asyncio.Queue[Any] = asyncio.Queue()  # bounded by hand: _END always fits
        self._error: BaseException | None = None
        self.task = asyncio.ensure_future(self._pump(events))

    async def _pump(self, events: AsyncIterator[Any]) -> None:
        try:
            async with aclosing(events) as running:  # type: ignore[type-var]
                async for event in running:
                    if self.dropped:
                        continue  # the run goes on; nobody is reading
                    if self._queue.qsize() >= self.limit:
                        self.drop()
                        continue
                    self._queue.put_nowait(event)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        except Exception as exc:  # noqa: BLE001 - handed to the reader, who reports it
            self._error = exc
        finally:
            self._queue.put_nowait(_END)

    def drop(self) -> None:
        """Let go of the client; the run goes on."""
        if not self.dropped:
            self.dropped = True
            while not self._queue.empty():
                self._queue.get_nowait()  # free what it will never read
            self._queue.put_nowait(_END)
            self._on_drop()

    async def cancel(self) -> None:
        """End the run (its partial results are written) and wait for it."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            item = await self._queue.get()
            if item is _END:
                if self._error is not None:
                    raise self._error
                return
            yield item
