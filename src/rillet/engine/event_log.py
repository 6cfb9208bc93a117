"""The run's event log: every event of the run in `<run dir>/events.jsonl`, so a finished
(or cancelled) run can be replayed later, as the web page's past runs are.

Each line is one event as `event_to_dict` gives it, after `t`: the seconds from the run's
start to when the line was written. The per-token cost is one list append: a loop timer
writes what is held every FLUSH_S (at once past MAX_HELD events, for a producer that never
yields), and consecutive text or thinking deltas of one step become one line. So `t` is
within FLUSH_S of the events' arrival, and a replay's text grows frame by frame.
"""

from __future__ import annotations

import asyncio
import json
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from time import perf_counter
from typing import Any

from rillet.events import Event, TextDelta, ThinkingDelta, event_to_dict

FILE_NAME = "events.jsonl"
FLUSH_S = 0.02
MAX_HELD = 4096

_step, _text = attrgetter("step"), attrgetter("text")
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


class RunEventLog:
    name = "events.jsonl"

    def __init__(self, run_dir: Path):
        self.path = run_dir / FILE_NAME
        self._file = self.path.open("a", encoding="utf-8")
        self._held: list[Event] = []
        self._started = perf_counter()
        self._error: BaseException | None = None
        self._timer: Any = None
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._tick()

    def on_event(self, event: Event) -> None:
        held = self._held
        held.append(event)
        if len(held) >= MAX_HELD:
            self.flush()

    def _tick(self) -> None:
        if self._loop is None or self._file.closed:
            return
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - reported by close(); the run goes on
            self._error = exc
            self._held = []
            return  # no more ticks: the log stops, the run does not
        self._timer = self._loop.call_later(FLUSH_S, self._tick)

    def flush(self) -> None:
        held = self._held
        if not held or self._file.closed:
            return
        self._held = []
        self._file.write(_lines(held, round(perf_counter() - self._started, 4)))
        self._file.flush()

    def close(self) -> None:
        if self._file.closed:
            return
        if self._timer is not None:
            self._timer.cancel()
        try:
            if self._error is None:
                self.flush()
        finally:
            self._file.close()
        if self._error is not None:
            raise self._error


def _lines(events: list[Event], t: float) -> str:
    # groupby with C-level keys: the per-delta work stays out of Python bytecode.
    out: list[str] = []
    for kind, run in groupby(events, type):
        if kind is TextDelta or kind is ThinkingDelta:
            name = kind.__name__
            for step, same in groupby(run, _step):
                out.append(_dumps({"t": t, "type": name, "step": step,
                                   "text": "".join(map(_text, same))}))
        else:
            out.extend(_dumps({"t": t, **event_to_dict(event)}) for event in run)
    return "\n".join(out) + "\n"
