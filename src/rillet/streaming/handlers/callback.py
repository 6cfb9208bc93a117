"""`callback`: every event of the step handed to a function of yours.

From YAML, name the function by dotted path. Loading the workflow checks it by reading
the module's source (a typo fails then, not mid-run) and runs none of it; the run
imports it::

    stream_handler: callback
    stream_handler_opts:
      callback: {function: "my_hooks:on_event", events: [TextDelta], max_calls_per_s: 20}

From Python, pass the callable itself, e.g.
`stream_handler_opts={"callback": {"function": my_function}}` or
`create_handler("callback", {"function": my_function}, ctx)`.

The function gets one event. It may be async (or return an awaitable): its coroutines run
in order, one at a time, on the event loop, and the step awaits the last of them before
it ends (`drain()`). An error in the function, sync or async, propagates: the executor
detaches the handler and reports it; the step and its text go on.

`events` keeps only the listed event types. `max_calls_per_s` limits how often the
function is called for TextDelta / ThinkingDelta: deltas arriving faster are *coalesced*
(joined into one delta of the same type) rather than dropped, so the function still sees
every character, in order. Other events are never held back, and held text is delivered
before them.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from time import monotonic
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator

from rillet import user_code
from rillet.events import Event, TextDelta, ThinkingDelta
from rillet.result import StepResult
from rillet.streaming.handler import BaseHandler, HandlerContext, HandlerOptions
from rillet.streaming.handlers._common import event_types, type_set

# Calls still running when a failed step closes the handler finish here.
_BACKGROUND: set[asyncio.Task[None]] = set()


def import_callable(value: Any) -> Any:
    """A dotted path `pkg.module:function` (or `pkg.module.function`) to the function.
    While a workflow is validated the path is only checked: nothing is imported."""
    if not isinstance(value, str):
        return value
    try:
        if user_code.is_checking():
            user_code.check_reference(value)
            return _not_loaded
        target = user_code.load_object(value)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import callback '{value}': {exc}") from exc
    if not callable(target):
        raise ValueError(f"callback '{value}' is a {type(target).__name__}, not a function")
    return target


def _not_loaded(event: Event) -> None:
    raise RuntimeError("a callback checked while validating is not loaded; run the workflow")


CallbackFunction = Annotated[
    Callable[..., Any],
    BeforeValidator(import_callable),
    WithJsonSchema({"type": "string", "description": "dotted path: package.module:function"}),
]


class CallbackOptions(HandlerOptions):
    function: CallbackFunction
    events: list[str] | None = Field(default=None, description="Only these event types.")
    max_calls_per_s: float | None = Field(default=None, gt=0, description=(
        "At most this many calls a second for text and thinking deltas (coalesced, "
        "never dropped)."))

    @field_validator("events")
    @classmethod
    def _known_types(cls, value: list[str] | None) -> list[str] | None:
        return event_types(value)


class CallbackHandler(BaseHandler):
    name = "callback"

    def __init__(self, options: CallbackOptions, ctx: HandlerContext):
        self.options = options
        self.step = ctx.step
        self.function: Callable[[Event], Any] = options.function
        self._types = type_set(options.events)
        self._interval = 1.0 / options.max_calls_per_s if options.max_calls_per_s else 0.0
        # Rate limiting: consecutive deltas of one type held for the next allowed call.
        self._held: list[str] = []
        self._held_first: Event | None = None
        self._next_call_at = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        # Async functions: their awaitables, run one at a time by a worker task.
        self._pending: deque[Awaitable[Any]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._closed = False

    # -- events ------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        if self._error is not None:
            self._raise_error()
        kind = type(event)
        types = self._types
        if types is not None and kind not in types:
            return
        if not self._interval:
            self._call(event)
        elif kind is TextDelta or kind is ThinkingDelta:
            self._hold(event)
        else:
            self._release()
            self._call(event)

    def _call(self, event: Event) -> None:
        result = self.function(event)
        if result is not None and inspect.isawaitable(result):
            self._enqueue(result)

    # -- rate limit --------------------------------------------------------------------------

    def _hold(self, event: Event) -> None:
        held = self._held
        first = self._held_first
        if first is not None and type(first) is not type(event):
            self._release()  # a change of kind ends the run of deltas
            first = None
        if first is None:
            self._held_first = event
        held.append(event.text)  # type: ignore[attr-defined]
        if monotonic() >= self._next_call_at:
            self._release()
        elif self._timer is None:
            self._arm()

    def _arm(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: held text goes with the next event or at the end
        delay = max(0.0, self._next_call_at - monotonic())
        self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self._release()
        except Exception as exc:  # noqa: BLE001 - raised on the handler's next call
            self._error = exc

    def _release(self) -> None:
        """Hand over the held deltas as one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        first = self._held_first
        if first is None:
            return
        held = self._held
        event = first if len(held) == 1 else type(first)(first.step, "".join(held))  # type: ignore[call-arg]
        held.clear()
        self._held_first = None
        self._next_call_at = monotonic() + self._interval
        self._call(event)

    # -- async functions ---------------------------------------------------------------------

    def _enqueue(self, awaitable: Awaitable[Any]) -> None:
        self._pending.append(awaitable)
        if self._worker is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # drain() awaits them
            self._worker = loop.create_task(self._work())

    async def _work(self) -> None:
        pending = self._pending
        try:
            while pending:
                await pending.popleft()
        except Exception as exc:  # noqa: BLE001 - raised on the handler's next call
            self._error = exc
            _discard(pending)
        finally:
            self._worker = None

    async def drain(self) -> None:
        """Deliver held text and wait for every call still running."""
        self._release()
        while self._worker is not None or self._pending:
            if self._worker is not None:
                await self._worker
            elif self._pending:
                await self._work()
        if self._error is not None:
            self._raise_error()

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        assert error is not None
        raise error

    # -- the end -----------------------------------------------------------------------------

    def on_complete(self, result: StepResult) -> None:
        self._release()

    def on_error(self, error: BaseException, partial: StepResult) -> None:
        self._release()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._release()
        finally:
            # A failed step is not drained: calls still queued finish in the background.
            worker = self._worker
            if worker is not None:
                _BACKGROUND.add(worker)
                worker.add_done_callback(_BACKGROUND.discard)
            elif self._pending:
                _discard(self._pending)  # no loop to run them on


def _discard(pending: deque[Awaitable[Any]]) -> None:
    while pending:
        awaitable = pending.popleft()
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()  # a coroutine never awaited: close it quietly
