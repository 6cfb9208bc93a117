"""`console`: the step's text on the terminal as it arrives.

Text and thinking (dim) are written as they come; tool calls and their results get one
short line each; a header names the step and a footer gives the real figures of the run
(TTFT, tokens, tokens/s, duration, cost; a figure that was not measured is left out).

Live yet cheap: deltas are batched by a `Batcher` and written + flushed when the event
loop gets a moment, at most every `flush_interval_ms` while a burst lasts. A person sees
tokens as they come (16 ms is one frame); a pipe gets one write per batch instead of one
per token. Model text is written as it is: no markup parsing, so `[brackets]` survive.
Colours only on a TTY, unless `color: always` / `never` (NO_COLOR is honoured on auto).
On a TTY, a spinner with the time elapsed holds the line while the step waits for its
first token, and is wiped before the first text is written.

Concurrent steps on one stream (parallel branches) write into lanes instead (`_lanes.py`):
piped, whole lines prefixed by the step's path; on a TTY, a live view with one line per
running step and each step's output printed whole when it ends. A step in a lane has no
spinner: the live view already shows each waiting step with its time elapsed.
"""

from __future__ import annotations

import asyncio
import json
import os
from time import perf_counter
from typing import Any, Literal, TextIO

from pydantic import Field
from rich.spinner import Spinner

from rillet.events import (
    Event, StepStarted, StreamRetry, TextDelta, ThinkingDelta, ToolHook, ToolResult, ToolUse,
    Usage,
)
from rillet.result import StepResult
from rillet.streaming.handler import BaseHandler, HandlerContext, HandlerOptions
from rillet.streaming.handlers._batch import Batcher
from rillet.streaming.handlers._lanes import Lane, Screen, screen_for

# A producer that never yields to the loop still gets its text out every this many deltas.
MAX_HELD_DELTAS = 1024

_RESET = "\x1b[0m"
_STYLES = {"dim": "\x1b[2m", "bold": "\x1b[1m", "cyan": "\x1b[36m", "green": "\x1b[32m",
           "yellow": "\x1b[33m", "red": "\x1b[31m"}
_CODES = frozenset([_RESET, *_STYLES.values()])
_SPINNER_FRAMES: list[str] = Spinner("dots").frames
SPINNER_INTERVAL_S = 0.1
_CLEAR_LINE = "\r\x1b[K"


class ConsoleOptions(HandlerOptions):
    color: Literal["auto", "always", "never"] = "auto"
    show_thinking: bool = True
    show_tools: bool = True
    show_header: bool = True
    show_stats: bool = True
    flush_interval_ms: float = Field(default=16.0, ge=0, le=1000)
    preview_chars: int = Field(default=100, ge=10, le=10_000)
    spinner: bool = True  # on a TTY only


def use_color(choice: str, stream: Any) -> bool:
    if choice != "auto":
        return choice == "always"
    return not os.environ.get("NO_COLOR") and is_tty(stream)


def is_tty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


class ConsoleHandler(BaseHandler):
    name = "console"

    def __init__(self, options: ConsoleOptions, ctx: HandlerContext):
        self.options = options
        self.step = ctx.step
        self.stream: TextIO = ctx.stdout
        self.color = use_color(options.color, ctx.stdout)
        self._out = Batcher(self._write, max_parts=MAX_HELD_DELTAS,
                            interval_s=options.flush_interval_ms / 1000)
        self._add = self._out.add
        self._in_text = False  # the last thing written was model text (not thinking)
        self._in_thinking = False
        self._tail = "\n"  # the last character written: lines start on a fresh line
        self._closed = False
        self._spin: asyncio.TimerHandle | None = None  # the spinner's next frame
        self._spun = False  # a frame is on the line
        self._waiting_since = 0.0
        self._screen: Screen | None = None  # joined at StepStarted
        self.lane: Lane | None = None  # set while the stream is shared with other steps

    # -- the per-token path ------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        kind = type(event)
        if kind is TextDelta:
            if not self._in_text:
                self._enter_text()
            self._add(event.text)  # type: ignore[attr-defined]
        elif kind is ThinkingDelta:
            if self.options.show_thinking:
                if not self._in_thinking:
                    self._enter_thinking()
                self._add(event.text)  # type: ignore[attr-defined]
        else:
            self._other(event)

    # -- everything else ---------------------------------------------------------------------

    def _other(self, event: Event) -> None:
        kind = type(event)
        if kind is StepStarted:
            if self._screen is None:
                self._screen = screen_for(self.stream)
                self._screen.join(self)
            if self.options.show_header:
                self._line(self._header(event), "bold")  # type: ignore[arg-type]
            if self.options.spinner and self.lane is None and is_tty(self.stream):
                self._start_spinner()
        elif kind is ToolUse:
            if self.options.show_tools:
                args = json.dumps(event.input, ensure_ascii=False, default=str)  # type: ignore[attr-defined]
                self._line(f"⚙ {event.name} {self._short(args)}", "cyan")  # type: ignore[attr-defined]
        elif kind is ToolResult:
            if self.options.show_tools:
                content = self._short(" ".join(event.content.split()))  # type: ignore[attr-defined]
                if event.is_error:  # type: ignore[attr-defined]
                    self._line(f"  ✗ tool error: {content}", "red")
                else:
                    self._line(f"  ↳ {content}", "dim")
        elif kind is ToolHook:
            # A refused call is news; the logging hooks' records are for logs and files.
            if self.options.show_tools and event.decision == "deny":  # type: ignore[attr-defined]
                self._line(f"  ⛔ {event.hook}: {event.reason}", "red")  # type: ignore[attr-defined]
        elif kind is StreamRetry:
            self._line(f"↻ retry {event.attempt}: {event.reason} — the text above is "  # type: ignore[attr-defined]
                       "void and comes again", "yellow")
        elif kind is Usage:  # it can come with every chunk: only a lane shows it
            if self.lane is not None:
                self.lane.tokens = event.output_tokens  # type: ignore[attr-defined]
        else:
            # Whoever speaks next on this stream (the run reporter) follows our text.
            self._out.flush()

    def on_complete(self, result: StepResult) -> None:
        if self.options.show_stats:
            figures = _figures(result)
            self._line(f"■ {self.step}" + (f" · {figures}" if figures else ""), "green")
        self._end_step()
        self._leave()

    def on_error(self, error: BaseException, partial: StepResult) -> None:
        if self.options.show_stats:
            figures = _figures(partial)
            self._line(f"■ {self.step} {partial.status}" + (f" · {figures}" if figures else ""),
                       "red")
        self._end_step()
        self._leave()

    def _end_step(self) -> None:
        # What is written next (the next step's header, the run's summary) starts a line.
        self._end_section()
        self._new_line()
        self._out.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_spinner()
        try:
            self._end_section()
            self._out.flush()
        finally:
            self._out.cancel()
            self._leave()

    # -- sharing the stream with concurrent steps -----------------------------------------

    def share(self, lane: Lane) -> None:
        """From now on write into `lane`: what is held goes out first, on a line of its own."""
        self._stop_spinner()  # the live view shows the wait from here on
        self._out.flush()
        if self._tail != "\n":
            self._write("\n")
        self.lane = lane

    def _leave(self) -> None:
        screen, self._screen = self._screen, None
        if screen is not None:
            screen.leave(self)
            self.lane = None

    # -- the spinner ---------------------------------------------------------------------------

    def _start_spinner(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven without an event loop: no spinner
            return
        self._waiting_since = perf_counter()
        self._spin = loop.call_later(SPINNER_INTERVAL_S, self._spin_frame)

    def _spin_frame(self) -> None:
        waited = perf_counter() - self._waiting_since
        if self.lane is not None:  # shared since: the live view shows the wait
            self._spin = None
            return
        if not self._out.parts and self._tail == "\n":  # only on a line of its own
            frame = _SPINNER_FRAMES[int(waited / SPINNER_INTERVAL_S) % len(_SPINNER_FRAMES)]
            self.stream.write(f"{_CLEAR_LINE}{self._style(frame, 'cyan')} waiting for the "
                              f"first token · {waited:.1f} s")
            self.stream.flush()
            self._spun = True
        self._spin = asyncio.get_running_loop().call_later(SPINNER_INTERVAL_S,
                                                           self._spin_frame)

    def _stop_spinner(self) -> None:
        if self._spin is not None:
            self._spin.cancel()
            self._spin = None
        if self._spun:
            self._spun = False
            self.stream.write(_CLEAR_LINE)  # the line is the first token's again
            self.stream.flush()

    # -- writing -------------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        lane = self.lane
        if lane is None:
            self.stream.write(text)
            self.stream.flush()
        else:
            self._screen.write(lane, text)  # type: ignore[union-attr]
        self._tail = text[-1]

    def _style(self, text: str, style: str) -> str:
        return f"{_STYLES[style]}{text}{_RESET}" if self.color else text

    def _enter_text(self) -> None:
        self._stop_spinner()
        self._end_section()
        self._in_text = True

    def _enter_thinking(self) -> None:
        self._stop_spinner()
        self._end_section()
        self._new_line()
        self._in_thinking = True
        if self.color:
            self._add(_STYLES["dim"])
        self._add("(thinking) ")

    def _end_section(self) -> None:
        if self._in_thinking:
            if self.color:
                self._add(_RESET)
            self._in_thinking = False
            self._new_line()
        self._in_text = False

    def _at_line_start(self) -> bool:
        for part in reversed(self._out.parts):
            if part and part not in _CODES:
                return part[-1] == "\n"
        return self._tail == "\n"

    def _new_line(self) -> None:
        if not self._at_line_start():
            self._add("\n")

    def _line(self, text: str, style: str) -> None:
        """A line of our own (not model text), on a line of its own, written at once."""
        self._stop_spinner()
        self._end_section()
        self._new_line()
        self._add(self._style(text, style) + "\n")
        self._out.flush()

    def _header(self, event: StepStarted) -> str:
        words = [f"▶ {self.step}"]
        if event.model:
            words.append(event.model)
        if event.provider:
            words.append(event.provider)
        return " · ".join(words)

    def _short(self, text: str) -> str:
        limit = self.options.preview_chars
        return text if len(text) <= limit else text[: limit - 1] + "…"


def _figures(result: StepResult) -> str:
    """The footer's figures: only those that were measured or reported."""
    m = result.metrics
    shown = []
    ttft = m.get("ttft_s")
    if ttft is not None:
        shown.append(f"TTFT {ttft * 1000:.0f} ms" if ttft < 1 else f"TTFT {ttft:.2f} s")
    tokens = result.output_tokens or m.get("output_tokens")
    if tokens:
        shown.append(f"{tokens} token{'s' * (tokens != 1)}")
    rate = m.get("tokens_per_second")
    if rate:
        shown.append(f"{rate:.1f} tok/s")
    elif tokens and (m.get("deltas") or 0) < 2:
        shown.append("too short for a rate")
    duration = m.get("duration_s")
    if duration is not None:
        shown.append(f"{duration:.2f} s")
    cost = m.get("cost_usd")
    if cost is not None:
        shown.append(f"${cost:.4f}")
    elif result.cost_usd is None:
        shown.append("$?")  # tokens were spent on a model with no known price
    retries = m.get("retries")
    if retries:
        shown.append(f"{retries} {'retry' if retries == 1 else 'retries'}")
    return " · ".join(shown)


class QuietConsole(BaseHandler):
    """What `console` is when the run is quiet: nothing at all, at no cost per token."""

    name = "console"


def make_console(options: ConsoleOptions, ctx: HandlerContext) -> BaseHandler:
    return QuietConsole() if ctx.quiet else ConsoleHandler(options, ctx)
