"""`file`: the step's stream into a file under the output directory.

Formats:
- `text`: the step's text as it arrives. After a StreamRetry the void text is removed
  (the file and any backups this handler made are started afresh), so the file never
  holds text twice; at the end it holds the step's final text.
- `jsonl`: one JSON line per event (like the `jsonl` handler), `t` = seconds since the
  step started.
- `json`: one document written when the step ends: the step's result (step, status,
  text, metrics, tokens, cost, error) plus the run id.

Writes are batched: `buffer_size` deltas (default: the step's `stream_buffer_size`, else
64) or `flush_interval_ms`, whichever comes first; everything held is written on
complete, error and close. `max_bytes` rotates text and jsonl files (`name.1` is the
previous file, up to `backups` kept).
"""

from __future__ import annotations

import json
from time import perf_counter
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rillet.events import Event, StepStarted, StreamRetry, TextDelta
from rillet.result import StepResult
from rillet.streaming.handler import BaseHandler, HandlerContext, HandlerOptions
from rillet.streaming.handlers._batch import Batcher
from rillet.safe_files import write_atomic
from rillet.streaming.handlers._common import EventLine, output_path, relative_path
from rillet.streaming.handlers._rotating import RotatingFile

DEFAULT_BUFFER_SIZE = 64
_SUFFIX = {"text": "txt", "json": "json", "jsonl": "jsonl"}


class FileOptions(HandlerOptions):
    path: str | None = Field(default=None, description=(
        "Relative to the output directory; {step} and {run_id} are filled in. "
        "Default: {step}.txt, {step}.json or {step}.jsonl."))
    format: Literal["text", "json", "jsonl"] = "text"
    max_bytes: int | None = Field(default=None, ge=1, description="Rotate past this size.")
    backups: int = Field(default=3, ge=0, description="Rotated files kept.")
    buffer_size: int | None = Field(default=None, ge=1, description=(
        "Deltas held before a write; default stream_buffer_size, else 64."))
    flush_interval_ms: float = Field(default=100.0, ge=0, le=60_000)

    @field_validator("path")
    @classmethod
    def _inside_output_dir(cls, value: str | None) -> str | None:
        return relative_path(value)

    @model_validator(mode="after")
    def _rotation_needs_a_stream(self) -> FileOptions:
        if self.format == "json" and self.max_bytes is not None:
            raise ValueError("max_bytes rotates text and jsonl files; a json file is one "
                             "document written at the end, so drop max_bytes or use jsonl")
        return self


class FileHandler(BaseHandler):
    """What the three formats share: the path, and writing everything held at the end."""

    name = "file"

    def __init__(self, options: FileOptions, ctx: HandlerContext):
        self.options = options
        self.ctx = ctx
        self.path = output_path(options.path or f"{{step}}.{_SUFFIX[options.format]}", ctx)
        self._done = False

    def on_complete(self, result: StepResult) -> None:
        self._finish(result.to_dict())

    def on_error(self, error: BaseException, partial: StepResult) -> None:
        document = partial.to_dict()
        document["error"] = partial.error or f"{type(error).__name__}: {error}"
        self._finish(document)

    def close(self) -> None:
        self._finish(None)

    def _finish(self, document: dict[str, Any] | None) -> None:
        if not self._done:
            self._done = True
            self._end(document)

    def _end(self, document: dict[str, Any] | None) -> None:
        raise NotImplementedError


class _StreamedFile(FileHandler):
    """text and jsonl: written in batches while the step streams, rotated by size."""

    def __init__(self, options: FileOptions, ctx: HandlerContext):
        super().__init__(options, ctx)
        self._file = RotatingFile(self.path, max_bytes=options.max_bytes,
                                  backups=options.backups)
        size = options.buffer_size or ctx.buffer_size or DEFAULT_BUFFER_SIZE
        self._out = Batcher(self._write, max_parts=size,
                            interval_s=options.flush_interval_ms / 1000)
        self._add = self._out.add

    def _write(self, text: str) -> None:
        raise NotImplementedError

    def _end(self, document: dict[str, Any] | None) -> None:
        try:
            self._out.flush()
        finally:
            self._out.cancel()
            self._file.close()


class TextFileHandler(_StreamedFile):
    def on_event(self, event: Event) -> None:
        kind = type(event)
        if kind is TextDelta:
            self._add(event.text)  # type: ignore[attr-defined]
        elif kind is StreamRetry:
            self._out.discard()
            self._file.reset()

    def _write(self, text: str) -> None:
        self._file.write(text, split=True)


class JsonlFileHandler(_StreamedFile):
    def __init__(self, options: FileOptions, ctx: HandlerContext):
        super().__init__(options, ctx)
        self._line = EventLine(ctx.step)
        self._started = perf_counter()

    def on_event(self, event: Event) -> None:
        if self._done:
            return  # a late HandlerFailed after the step ended
        now = perf_counter()
        if type(event) is StepStarted:
            self._started = now
        self._add(self._line(event, now - self._started))

    def _write(self, text: str) -> None:
        file = self._file
        if file.max_bytes is None:
            file.write(text, split=False)
            return
        # Rotation happens between records. Every record ends with the one raw "\n"
        # (JSON escapes any inside), so this is exact where str.splitlines is not.
        start = 0
        while start < len(text):
            end = text.index("\n", start) + 1
            file.write(text[start:end], split=False)
            start = end


class JsonFileHandler(FileHandler):
    def __init__(self, options: FileOptions, ctx: HandlerContext):
        super().__init__(options, ctx)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._text: list[str] = []  # for a close that comes without a result

    def on_event(self, event: Event) -> None:
        kind = type(event)
        if kind is TextDelta:
            self._text.append(event.text)  # type: ignore[attr-defined]
        elif kind is StreamRetry:
            self._text.clear()

    def _end(self, document: dict[str, Any] | None) -> None:
        if document is None:
            document = {"step": self.ctx.step, "status": "incomplete",
                        "text": "".join(self._text),
                        "error": "the handler was closed before the step ended"}
        document = {"run_id": self.ctx.run_id, **document}
        text = json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n"
        # Readers never see half a document, and nothing is written through a symlink.
        write_atomic(self.path, lambda file: file.write(text), what="the handler file")


_FORMATS: dict[str, type[FileHandler]] = {
    "text": TextFileHandler, "jsonl": JsonlFileHandler, "json": JsonFileHandler,
}


def make_file_handler(options: FileOptions, ctx: HandlerContext) -> FileHandler:
    return _FORMATS[options.format](options, ctx)
