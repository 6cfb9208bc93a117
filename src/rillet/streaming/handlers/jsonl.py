"""`jsonl`: an event log, one JSON line per event.

Each line is the event's fields with its type first and `t`, the seconds since the step
started (perf_counter, from StepStarted), e.g.
`{"t":0.412031,"type":"TextDelta","step":"draft","text":"Hello"}`.
`events: [TextDelta, ToolUse]` keeps only those types; with no `events`, every type but
PartialOutput (each repeats the whole object so far). The file defaults to
`<step>.events.jsonl` under the output directory. Lines are written in batches
(`buffer_size`, else stream_buffer_size, else 64 events, or every `flush_interval_ms`),
and everything held is written on complete, error and close.
"""

from __future__ import annotations

from time import perf_counter

from pydantic import Field, field_validator

from rillet.events import Event, StepStarted
from rillet.result import StepResult
from rillet.streaming.handler import BaseHandler, HandlerContext, HandlerOptions
from rillet.streaming.handlers._batch import Batcher
from rillet.streaming.handlers._common import (
    LOGGED_BY_DEFAULT, EventLine, event_types, output_path, relative_path, type_set,
)
from rillet.streaming.handlers._rotating import RotatingFile

DEFAULT_BUFFER_SIZE = 64


class JsonlOptions(HandlerOptions):
    path: str = Field(default="{step}.events.jsonl", description=(
        "Relative to the output directory; {step} and {run_id} are filled in."))
    events: list[str] | None = Field(default=None, description="Only these event types.")
    buffer_size: int | None = Field(default=None, ge=1)
    flush_interval_ms: float = Field(default=100.0, ge=0, le=60_000)

    @field_validator("path")
    @classmethod
    def _inside_output_dir(cls, value: str) -> str:
        return relative_path(value)  # type: ignore[return-value]

    @field_validator("events")
    @classmethod
    def _known_types(cls, value: list[str] | None) -> list[str] | None:
        return event_types(value)


class JsonlHandler(BaseHandler):
    name = "jsonl"

    def __init__(self, options: JsonlOptions, ctx: HandlerContext):
        self.options = options
        self.path = output_path(options.path, ctx)
        self._types = type_set(options.events) if options.events is not None \
            else LOGGED_BY_DEFAULT
        self._file = RotatingFile(self.path)
        size = options.buffer_size or ctx.buffer_size or DEFAULT_BUFFER_SIZE
        self._out = Batcher(self._write, max_parts=size,
                            interval_s=options.flush_interval_ms / 1000)
        self._line = EventLine(ctx.step)
        self._started = perf_counter()

    def on_event(self, event: Event) -> None:
        if self._file.closed:
            return  # a late HandlerFailed after the step ended
        kind = type(event)
        if kind is StepStarted:
            self._started = perf_counter()
        types = self._types
        if types is not None and kind not in types:
            return
        t = 0.0 if kind is StepStarted else perf_counter() - self._started
        self._out.add(self._line(event, t))

    def _write(self, text: str) -> None:
        self._file.write(text, split=False)

    def on_complete(self, result: StepResult) -> None:
        self._out.flush()

    def on_error(self, error: BaseException, partial: StepResult) -> None:
        self._out.flush()

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            self._out.flush()
        finally:
            self._out.cancel()
            self._file.close()
