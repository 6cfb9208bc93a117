"""The run's event log: every event of the run in `<run dir>/events.jsonl`, so a finished
(or cancelled) run can be replayed later, as the web page's past runs are.

Each line is one event as `event_to_dict` gives it, after `t`: the seconds from the run's
start to when the line was written. The per-token cost is one C-level append to a deque:
a writer thread drains it every FLUSH_S (also when the event loop never yields, so memory
stays bounded), joins consecutive text or thinking deltas of one step into one line and
writes them off the event loop. So `t` is within FLUSH_S of the events' arrival, and a
replay's text grows frame by frame. A structured step's PartialOutput repeats the whole
object so far, so logging every one would be quadratic in the reply: the log keeps the
newest of each step at most every SNAPSHOT_S, enough for a replay to show the fields
filling in (the TextDeltas already hold the JSON itself).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from itertools import compress, groupby, repeat
from operator import attrgetter, call, is_, not_
from pathlib import Path
from time import perf_counter

from rillet.events import Event, PartialOutput, TextDelta, ThinkingDelta, event_to_dict

FILE_NAME = "events.jsonl"
FLUSH_S = 0.02
SNAPSHOT_S = 0.1

_step, _text = attrgetter("step"), attrgetter("text")
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


class RunEventLog:
    name = "events.jsonl"

    def __init__(self, run_dir: Path):
        self.path = run_dir / FILE_NAME
        self._file = self.path.open("a", encoding="utf-8")
        self._held: deque[Event] = deque()
        self.on_event = self._held.append  # the whole per-token cost
        self._started = perf_counter()
        self._snapshot_at: dict[str, float] = {}  # step -> t of its last logged object
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._writer = threading.Thread(target=self._write_until_closed, daemon=True,
                                        name=f"rillet events log {run_dir.name}")
        self._writer.start()

    def _write_until_closed(self) -> None:
        while not self._stop.wait(FLUSH_S):
            try:
                self._drain()
            except Exception as exc:  # noqa: BLE001 - reported by close(); the run goes on
                self._error = exc
                self.on_event = _ignore  # type: ignore[method-assign]
                self._held.clear()
                return

    def _drain(self) -> None:
        held = self._held
        count = len(held)
        if count:
            events = list(map(call, repeat(held.popleft, count)))
            t = round(perf_counter() - self._started, 4)
            self._file.write(_lines(events, t, self._snapshot_at))
            self._file.flush()

    def close(self) -> None:
        if self._file.closed:
            return
        self._stop.set()
        self._writer.join()
        try:
            if self._error is None:
                self._drain()
        finally:
            self._file.close()
        if self._error is not None:
            raise self._error


def _ignore(event: Event) -> None:
    pass


def _lines(events: list[Event], t: float, snapshot_at: dict[str, float]) -> str:
    # groupby with C-level keys: the per-delta work stays out of Python bytecode. Only the
    # PartialOutputs chosen as snapshots stay, so the text deltas around them still join.
    partial = list(map(is_, map(type, events), repeat(PartialOutput)))
    keep = list(map(not_, partial))
    newest: dict[str, int] = {}
    for index in compress(range(len(events)), partial):
        newest[events[index].step] = index
    for step, index in newest.items():
        if t - snapshot_at.get(step, -SNAPSHOT_S) >= SNAPSHOT_S:
            snapshot_at[step] = t
            keep[index] = True
    kept = compress(events, keep)
    out: list[str] = []
    for kind, run in groupby(kept, type):
        if kind is TextDelta or kind is ThinkingDelta:
            name = kind.__name__
            for step, same in groupby(run, _step):
                out.append(_dumps({"t": t, "type": name, "step": step,
                                   "text": "".join(map(_text, same))}))
        else:
            out.extend(_dumps({"t": t, **event_to_dict(event)}) for event in run)
    return "".join(line + "\n" for line in out)  # a batch of skipped objects writes nothing
