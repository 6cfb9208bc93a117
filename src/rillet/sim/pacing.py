"""How a reply's tokens are grouped into deltas and spaced in time (both protocols)."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterator
from time import perf_counter

from rillet.sim.script import ResolvedTiming


def content_chunks(tokens: list[str], chunk_tokens: int) -> list[str]:
    """The text of each delta: `chunk_tokens` tokens apiece."""
    if chunk_tokens == 1:
        return tokens
    return ["".join(tokens[i:i + chunk_tokens]) for i in range(0, len(tokens), chunk_tokens)]


def delays(timing: ResolvedTiming) -> Iterator[float]:
    """Seconds to wait before each delta. Jitter moves each pause by up to ±jitter of the
    interval, drawn from a generator seeded by `timing.seed`, so a replay is identical."""
    interval = timing.interval_s
    if interval <= 0.0 or timing.jitter <= 0.0:
        return itertools.repeat(interval)
    return _jittered(interval, timing.jitter, timing.seed)


def _jittered(interval: float, jitter: float, seed: int) -> Iterator[float]:
    uniform = random.Random(seed).random
    low = interval * (1.0 - jitter)
    span = 2.0 * interval * jitter
    while True:
        yield low + span * uniform()


class Schedule:
    """Sleeps so that items go out when they are due, not one sleep per item: the event
    loop cannot sleep much less than a millisecond, so a sleep per delta would cap a fast
    stream near 1,000 deltas/s. Delays add up to a timetable instead; the stream sleeps
    only once it is ahead of the clock by more than `min_sleep_s`, and a consumer that
    fell far behind does not get the lost time back as a burst."""

    def __init__(self, *, min_sleep_s: float = 0.001, max_debt_s: float = 0.05):
        self.min_sleep_s = min_sleep_s
        self.max_debt_s = max_debt_s
        self._due: float | None = None

    async def wait(self, delay: float) -> None:
        now = perf_counter()
        due = (now if self._due is None or now - self._due > self.max_debt_s
               else self._due) + delay
        self._due = due
        if due - now > self.min_sleep_s:
            await asyncio.sleep(due - now)
