"""`buffer`: the step's events kept in memory, bounded, to query during or after the run.

Bounds: `max_events` (default 100,000) and `max_bytes` (an estimate: each event's strings
plus a fixed cost per event). When a bound is reached the buffer keeps its oldest events
and counts the newer ones it turned away (`dropped`); with `circular: true` it drops the
oldest instead (`evicted`). `complete` says whether it still holds every event it saw.

Query: `events()` (all), `events(TextDelta)` / `events("ToolUse", "ToolResult")` (by type),
`text()` (the text of the latest attempt: a StreamRetry voids what came before it),
`thinking()`, `result` (the StepResult, once the step ends) and `error`.

Getting at a buffer built from YAML: each buffer registers itself under (run_id, step),
so after `result = rillet.run("flow.yaml")`::

    from rillet.streaming.handlers.buffer import get_buffer, clear_buffers
    buf = get_buffer(result.run_id, "draft")
    print(buf.text(), len(buf.events("ToolUse")))
    clear_buffers(result.run_id)          # let it go

The registry holds the buffers of the last KEEP_RUNS runs (older runs are let go first);
`clear_buffers()` empties it. `keep: false` skips the registry.
"""

from __future__ import annotations

import sys
from collections import OrderedDict, deque
from collections.abc import Iterator

from pydantic import Field, field_validator

from rillet.events import Event, StreamRetry, TextDelta, ThinkingDelta
from rillet.result import StepResult
from rillet.streaming.handler import BaseHandler, HandlerContext, HandlerOptions
from rillet.streaming.handlers._common import EVENT_TYPES, event_types, type_set

KEEP_RUNS = 16
# What an event costs beyond its text: the object and its slot in the deque.
_EVENT_COST = sys.getsizeof(TextDelta("", "")) + 8

_RUNS: OrderedDict[str, dict[str, BufferHandler]] = OrderedDict()


class BufferOptions(HandlerOptions):
    max_events: int | None = Field(default=100_000, ge=1, description="None: no limit.")
    max_bytes: int | None = Field(default=None, ge=1, description="Approximate memory limit.")
    circular: bool = Field(default=False, description="When full, drop the oldest events.")
    events: list[str] | None = Field(default=None, description="Only keep these event types.")
    keep: bool = Field(default=True, description="Register for get_buffer(run_id, step).")

    @field_validator("events")
    @classmethod
    def _known_types(cls, value: list[str] | None) -> list[str] | None:
        return event_types(value)


def _size(event: Event) -> int:
    kind = type(event)
    if kind is TextDelta or kind is ThinkingDelta:
        return _EVENT_COST + sys.getsizeof(event.text)  # type: ignore[attr-defined]
    return _EVENT_COST + len(repr(event))


class BufferHandler(BaseHandler):
    name = "buffer"

    def __init__(self, options: BufferOptions, ctx: HandlerContext):
        self.options = options
        self.step = ctx.step
        self.run_id = ctx.run_id
        self.max_events = options.max_events
        self.max_bytes = options.max_bytes
        self.circular = options.circular
        self.bytes = 0
        self.dropped = 0  # newer events turned away (not circular)
        self.evicted = 0  # older events let go (circular)
        self.result: StepResult | None = None
        self.error: BaseException | None = None
        self._events: deque[Event] = deque()
        self._sizes: deque[int] = deque()  # kept only with max_bytes
        self._types = type_set(options.events)
        if options.keep:
            _register(self)

    def on_event(self, event: Event) -> None:
        types = self._types
        if types is not None and type(event) not in types:
            return
        events = self._events
        limit = self.max_events
        if self.max_bytes is None:
            if limit is not None and len(events) >= limit:
                if not self.circular:
                    self.dropped += 1
                    return
                events.popleft()
                self.evicted += 1
            events.append(event)
            return
        self._append_sized(event, _size(event))

    def _append_sized(self, event: Event, size: int) -> None:
        events, sizes = self._events, self._sizes
        limit, max_bytes = self.max_events, self.max_bytes
        assert max_bytes is not None
        if size > max_bytes:  # larger than the whole buffer: it can never fit
            self.dropped += 1
            return
        full = (limit is not None and len(events) >= limit) or self.bytes + size > max_bytes
        if full and not self.circular:
            self.dropped += 1
            return
        while events and ((limit is not None and len(events) >= limit)
                          or self.bytes + size > max_bytes):
            events.popleft()
            self.bytes -= sizes.popleft()
            self.evicted += 1
        events.append(event)
        sizes.append(size)
        self.bytes += size

    def on_complete(self, result: StepResult) -> None:
        self.result = result

    def on_error(self, error: BaseException, partial: StepResult) -> None:
        self.result = partial
        self.error = error

    # -- queries -----------------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """True while the buffer holds every event it was given."""
        return not (self.dropped or self.evicted)

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(list(self._events))

    def events(self, *kinds: type[Event] | str) -> list[Event]:
        """The events held, oldest first; with types (classes or names), only those."""
        if not kinds:
            return list(self._events)
        wanted = tuple(EVENT_TYPES[k] if isinstance(k, str) else k for k in kinds)
        return [e for e in self._events if type(e) in wanted]

    def text(self) -> str:
        return self._joined(TextDelta)

    def thinking(self) -> str:
        return self._joined(ThinkingDelta)

    def _joined(self, kind: type[Event]) -> str:
        parts: list[str] = []
        for event in reversed(self._events):
            if type(event) is StreamRetry:
                break
            if type(event) is kind:
                parts.append(event.text)  # type: ignore[attr-defined]
        return "".join(reversed(parts))

    def clear(self) -> None:
        self._events.clear()
        self._sizes.clear()
        self.bytes = self.dropped = self.evicted = 0


# -- the registry of buffers built from YAML ------------------------------------------------


def _register(buffer: BufferHandler) -> None:
    run = _RUNS.get(buffer.run_id)
    if run is None:
        run = _RUNS[buffer.run_id] = {}
        while len(_RUNS) > KEEP_RUNS:
            _RUNS.popitem(last=False)
    run[buffer.step] = buffer


def get_buffer(run_id: str, step: str) -> BufferHandler:
    """The buffer handler of a step of a run (KeyError says which ones exist)."""
    run = _RUNS.get(run_id)
    if run is None or step not in run:
        held = ", ".join(f"{r}/{s}" for r, steps in _RUNS.items() for s in steps) or "none"
        raise KeyError(f"no buffer for step '{step}' of run '{run_id}' (held: {held}); "
                       f"is `buffer` among the step's stream handlers, with keep: true?")
    return run[step]


def buffers(run_id: str) -> dict[str, BufferHandler]:
    """The buffers of one run, by step name."""
    return dict(_RUNS.get(run_id, {}))


def clear_buffers(run_id: str | None = None) -> None:
    """Let go of one run's buffers, or of all."""
    if run_id is None:
        _RUNS.clear()
    else:
        _RUNS.pop(run_id, None)
