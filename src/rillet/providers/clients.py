"""One SDK client per (provider, base URL, key), shared by every step and run of a process.

A new `anthropic` or google-genai client loads the CA bundle into a new SSL context
(~20 ms) and opens a new connection for its first request; a reused one sends the next
request on a kept-alive connection. So the HTTP providers take their client from here.

An SDK's async client belongs to the event loop its connections were opened on, so the
clients are kept per loop. Those of a loop are closed when the loop ends: `asyncio.run`
(and pytest's loops) close every async generator still open before closing the loop, and
each loop's clients are held by one (`_closer`). Any left at interpreter exit are closed
then, on their loop if it can still run.

`warm` starts making a client in a thread, so importing its SDK (0.5-1 s) overlaps what
the run does before the step that needs it.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

Make = Callable[[], Any]
Close = Callable[[Any], Awaitable[None]]

_threads = concurrent.futures.ThreadPoolExecutor(max_workers=2,
                                                 thread_name_prefix="rillet-sdk-setup")
_lock = threading.Lock()


@dataclass
class _LoopClients:
    entries: dict[Hashable, tuple[concurrent.futures.Future[Any], Close]] = field(
        default_factory=dict)
    closer: Any = None  # the async generator that closes them when the loop ends
    started: Any = None  # the task that started it


_by_loop: dict[asyncio.AbstractEventLoop, _LoopClients] = {}


def _future(key: Hashable, make: Make, close: Close, *, background: bool
            ) -> concurrent.futures.Future[Any]:
    loop = asyncio.get_running_loop()
    with _lock:
        for other in [x for x in _by_loop if x.is_closed()]:
            del _by_loop[other]  # its connections ended with it
        clients = _by_loop.setdefault(loop, _LoopClients())
        entry = clients.entries.get(key)
        if entry is not None and not (entry[0].done() and entry[0].exception()):
            return entry[0]
        if background:
            future = _threads.submit(make)
        else:
            future = concurrent.futures.Future()
            try:
                future.set_result(make())
            except BaseException as exc:  # noqa: BLE001 - kept for the caller to raise
                future.set_exception(exc)
        clients.entries[key] = (future, close)
    if clients.closer is None:
        clients.closer = _closer(clients)
        # Started now, so the loop knows it; it waits at its `yield` until the loop ends.
        clients.started = loop.create_task(_start(clients.closer))
    return future


def warm(key: Hashable, make: Make, close: Close) -> None:
    """Start making the client for `key` in a thread (if it is not made or being made)."""
    _future(key, make, close, background=True)


async def shared_client(key: Hashable, make: Make, close: Close) -> Any:
    """This loop's client for `key`: made by `make()` the first time (or awaited, if
    `warm` started it). A failed make is raised, and tried again next time."""
    future = _future(key, make, close, background=False)
    if future.done():
        return future.result()
    return await asyncio.wrap_future(future)


async def aclose_clients() -> None:
    """Close the running loop's clients now (a CLI run does this before it exits)."""
    with _lock:
        clients = _by_loop.pop(asyncio.get_running_loop(), None)
    if clients is not None:
        await _close(clients)


async def _close(clients: _LoopClients) -> None:
    entries, clients.entries = list(clients.entries.values()), {}
    for future, close in entries:
        if future.done() and future.exception() is None:
            try:
                await close(future.result())
            except Exception:  # noqa: BLE001, S110 - closing at the end: nothing to report to
                pass
        # One still being made has opened no connection: nothing to close.


async def _start(closer: Any) -> None:
    await closer.__anext__()


async def _closer(clients: _LoopClients) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await _close(clients)


@atexit.register
def _close_at_exit() -> None:
    with _lock:
        left = list(_by_loop.items())
        _by_loop.clear()
    for loop, clients in left:
        if not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(_close(clients))
