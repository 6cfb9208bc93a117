"""How a reply's tokens are grouped into deltas and spaced in time (both protocols)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

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
