"""One terminal shared by the console handlers of concurrent steps.

While a single step writes to a stream (a straight chain, a sequential loop), its console
handler writes straight to it and nothing here is involved. When a second step starts on
the same stream before the first has ended (parallel branches, parallel loop iterations),
the stream becomes *shared* until every one of them has ended, and each handler writes into
a lane instead:

- piped (no TTY): whole lines, each prefixed by the step's path (`fanout.a │ …`), written
  as each line completes, so `grep '^fanout.a │'` gives one branch back;
- on a TTY: a rich Live view with one line per running step (its path, its figures so far
  and its latest text); a step's output, exactly as a straight run would show it, is
  printed whole above the view when it ends, in the order the steps started.

The per-token path is unchanged: handlers batch deltas as before and a lane only sees each
batch (at most one a frame).
"""

from __future__ import annotations

import asyncio
import re
from time import monotonic
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.text import Text

if TYPE_CHECKING:
    from rillet.streaming.handlers.console import ConsoleHandler

REFRESH_S = 0.1  # the live view redraws at most this often
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SCREENS: dict[int, Screen] = {}


def screen_for(stream: TextIO) -> Screen:
    screen = _SCREENS.get(id(stream))
    if screen is None or screen.stream is not stream:
        screen = _SCREENS[id(stream)] = Screen(stream)
    return screen


def live_console(stream: TextIO) -> Console | None:
    """The console of the live view on this stream, while there is one: whoever else prints
    on the stream (the run's reporter) prints through it, above the lanes."""
    screen = _SCREENS.get(id(stream))
    if screen is None or screen.live is None or screen.stream is not stream:
        return None
    return screen.live.console


def is_shared(stream: TextIO) -> bool:
    screen = _SCREENS.get(id(stream))
    return screen is not None and screen.shared and screen.stream is stream


class Lane:
    """What one step has written while the stream is shared."""

    __slots__ = ("handler", "label", "parts", "partial", "tokens", "started", "done")

    def __init__(self, handler: ConsoleHandler):
        self.handler = handler
        self.label = handler.step
        self.parts: list[str] = []  # on a TTY: everything, printed whole at the end
        self.partial = ""  # piped: the line not finished yet
        self.tokens = 0
        self.started = monotonic()
        self.done = False

    def latest_line(self) -> str:
        tail = ""
        for part in reversed(self.parts):
            tail = part + tail
            if len(tail) > 400 or "\n" in tail.rstrip("\n"):
                break
        lines = [line for line in _ANSI.sub("", tail).splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""


class Screen:
    """The handlers writing to one stream; shared while two or more of them run."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.running: list[ConsoleHandler] = []
        self.lanes: list[Lane] = []  # in start order; on a TTY, until printed
        self.shared = False
        self.tty = _isatty(stream)
        self.live: Live | None = None
        self._timer: Any = None

    # -- handlers come and go --------------------------------------------------------------

    def join(self, handler: ConsoleHandler) -> None:
        self.running.append(handler)
        if self.shared:
            handler.share(self._lane(handler))
        elif len(self.running) > 1:
            self.shared = True
            for each in self.running:  # what each has written so far goes out plainly first
                each.share(self._lane(each))
        if self.shared and self.tty and self.live is None:
            console = Console(file=self.stream, highlight=False, soft_wrap=True)
            self.live = Live(_LaneView(self), console=console, auto_refresh=False,
                             transient=True, redirect_stdout=False, redirect_stderr=False)
            self.live.start()

    def leave(self, handler: ConsoleHandler) -> None:
        if handler not in self.running:
            return
        self.running.remove(handler)
        lane = handler.lane
        if lane is not None:
            lane.done = True
            if not self.tty:
                self._end_line(lane)
                self.lanes.remove(lane)
        self._print_finished()
        if not self.running:
            self._stop()

    def _lane(self, handler: ConsoleHandler) -> Lane:
        lane = Lane(handler)
        self.lanes.append(lane)
        return lane

    # -- writing -----------------------------------------------------------------------------

    def write(self, lane: Lane, text: str) -> None:
        if self.tty:
            lane.parts.append(text)
            self._refresh_soon()
            return
        text = lane.partial + text
        head, newline, lane.partial = text.rpartition("\n")
        if newline:
            prefix = f"{lane.label} │ "
            self.stream.write("".join(f"{prefix}{line}\n" for line in head.split("\n")))
            self.stream.flush()

    def _end_line(self, lane: Lane) -> None:
        if lane.partial:
            lane.partial, rest = "", lane.partial
            self.stream.write(f"{lane.label} │ {rest}\n")
            self.stream.flush()

    def _print_finished(self) -> None:
        """On a TTY, print each ended step's output whole, in the order the steps started."""
        if not self.tty or self.live is None:
            return
        while self.lanes and self.lanes[0].done:
            lane = self.lanes.pop(0)
            text = "".join(lane.parts)
            if text:
                self.live.console.print(Text.from_ansi(text.removesuffix("\n")))
        self.live.refresh()

    def _refresh_soon(self) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._refresh()
            return
        self._timer = loop.call_later(REFRESH_S, self._refresh)

    def _refresh(self) -> None:
        self._timer = None
        if self.live is not None:
            try:
                self.live.refresh()
            except (OSError, ValueError):  # the terminal went away: the lanes carry on
                pass

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.live is not None:
            for lane in self.lanes:  # a handler that was detached never ended: show it anyway
                lane.done = True
            self._print_finished()
            self.live.stop()
            self.live = None
        self.lanes.clear()
        self.shared = False
        if _SCREENS.get(id(self.stream)) is self:
            del _SCREENS[id(self.stream)]


class _LaneView:
    """The live view: one line per step not yet printed."""

    def __init__(self, screen: Screen):
        self.screen = screen

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lanes = self.screen.lanes
        room = max(3, (options.height or console.height) - 2)
        now = monotonic()
        for lane in lanes[:room]:
            figures = [f"{now - lane.started:.1f} s"]
            if lane.tokens:
                figures.append(f"{lane.tokens} tokens")
            state = ("■ ", "green") if lane.done else ("▶ ", "bold")
            head = Text.assemble(state, (lane.label, "bold"),
                                 (f" · {' · '.join(figures)} │ ", "dim"))
            # The newest words are at the end of the line: cut from the left.
            latest, room_left = lane.latest_line(), options.max_width - head.cell_len
            if len(latest) > room_left > 1:
                latest = "…" + latest[len(latest) - room_left + 1:]
            line = head + latest
            line.no_wrap = True
            line.overflow = "ellipsis"
            yield line
        if len(lanes) > room:
            yield Text(f"… and {len(lanes) - room} more", style="dim")


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except (ValueError, OSError):
        return False
