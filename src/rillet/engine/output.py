"""`output_to_file` as a passthrough: the step's text is written while it arrives.

The file is flushed at most every FLUSH_INTERVAL_S so `tail -f` shows the text live
without a system call per token. When the provider restarts its response the file is cut
back to the end of the last finished message (the retried one comes again), and at the end
the file is made to hold exactly the step's final text.
"""

from __future__ import annotations

from pathlib import Path
from time import perf_counter
from typing import IO

from rillet.events import Event, MessageComplete, StreamRetry, TextDelta
from rillet.result import StepResult
from rillet.safe_files import open_exclusive

FLUSH_INTERVAL_S = 0.05


class OutputFileWriter:
    name = "output_to_file"

    def __init__(self, path: Path):
        self.path = path
        # Locked while the step writes: a second run on the same file is refused, not mixed.
        self._file: IO[str] | None = open_exclusive(path, what="output_to_file")
        self._written = 0
        self._kept = (0, 0)  # (file position, characters) at the last finished message
        self._last_flush = perf_counter()

    def on_event(self, event: Event) -> None:
        file = self._file
        if file is None:
            return
        kind = type(event)
        if kind is TextDelta:
            file.write(event.text)  # type: ignore[attr-defined]
            self._written += len(event.text)  # type: ignore[attr-defined]
            now = perf_counter()
            if now - self._last_flush >= FLUSH_INTERVAL_S:
                file.flush()
                self._last_flush = now
        elif kind is MessageComplete:
            self._kept = (file.tell(), self._written)
        elif kind is StreamRetry:
            position, self._written = self._kept
            file.seek(position)
            file.truncate()

    def on_complete(self, result: StepResult) -> None:
        self._finish(result.text)

    def on_error(self, error: BaseException, partial: StepResult) -> None:
        self._finish(partial.text)

    def _finish(self, text: str) -> None:
        file = self._file
        if file is None:
            return
        # A non-streaming step, or a handler-less replay, may not have passed every delta
        # through here; the file must still hold exactly the step's text.
        if self._written != len(text):
            file.seek(0)
            file.truncate()
            file.write(text)
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
