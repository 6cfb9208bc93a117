"""A custom stream handler: a one-line progress meter for long answers.

Used by examples/custom_handler.yaml as `stream_handler: progress_handler.ProgressMeter`.
rillet builds it with (options, ctx): `options` is an instance of the class's `Options`
model, so an unknown option in the YAML fails when the workflow loads, and `ctx` tells
it the step, the run id, the output folder and where stdout is.

A handler never changes the step's result, so it only reports: every `every_words` words
it rewrites a line on stderr with the words so far and the words per second, and at the end
it writes the step's words and measured figures to `<output dir>/<step>.progress.txt`.
"""

from __future__ import annotations

import sys
from time import perf_counter

from pydantic import Field

from rillet import BaseHandler
from rillet.events import Event, StepStarted, TextDelta
from rillet.result import StepResult
from rillet.streaming.handler import HandlerContext, HandlerOptions


class ProgressMeter(BaseHandler):
    name = "progress"

    class Options(HandlerOptions):
        every_words: int = Field(default=25, ge=1, description="Update the line this often.")
        label: str = "writing"

    def __init__(self, options: Options, ctx: HandlerContext):
        self.options = options
        self.ctx = ctx
        self.words = 0
        self._mid_word = False
        self.next_update = options.every_words
        self.started = perf_counter()
        self._shown = 0  # length of the line on stderr now

    def on_event(self, event: Event) -> None:
        kind = type(event)
        if kind is TextDelta:
            # The per-token path: count and compare, nothing else. A delta that starts
            # without a space continues the word the last one ended in.
            text = event.text
            parts = text.split()
            if parts:
                self.words += len(parts) - (self._mid_word and not text[0].isspace())
            if text:
                self._mid_word = not text[-1].isspace()
            if self.words >= self.next_update:
                self.next_update += self.options.every_words
                rate = self.words / max(perf_counter() - self.started, 1e-9)
                self._rewrite(f"{self.ctx.step}: {self.options.label} {self.words} words, "
                              f"{rate:.0f} words/s")
        elif kind is StepStarted:
            self.started = perf_counter()

    def _rewrite(self, line: str) -> None:
        """Replace the line: padded with spaces over what a longer line left behind."""
        sys.stderr.write("\r" + line.ljust(self._shown))
        sys.stderr.flush()
        self._shown = len(line)

    def on_complete(self, result: StepResult) -> None:
        self._report(result)

    def on_error(self, error: BaseException, partial: StepResult) -> None:
        self._report(partial)

    def _report(self, result: StepResult) -> None:
        self._rewrite(f"{self.ctx.step}: {result.status}, {len(result.text.split())} words")
        sys.stderr.write("\n")
        self._shown = 0
        path = self.ctx.output_dir / f"{self.ctx.step}.progress.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        ttft = result.metrics.get("ttft_s")
        path.write_text(
            f"step: {result.step}\nstatus: {result.status}\n"
            f"words: {len(result.text.split())}\n"
            f"output_tokens: {result.output_tokens}\n"
            f"ttft_s: {ttft}\n", encoding="utf-8")
