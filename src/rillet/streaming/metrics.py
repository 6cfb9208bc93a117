"""Streaming metrics taken from real clock readings, never estimated.

Inter-delta gaps go into a fixed log2 histogram (microseconds) so a million-delta stream
keeps a few dozen integers, not a million floats. Percentiles read from it are upper
bounds of their bucket and are reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_BUCKETS = 40  # 2**39 µs is far beyond any gap worth telling apart


@dataclass(slots=True)
class StreamMetrics:
    started_at: float | None = None  # perf_counter when the stream was first pulled
    first_token_at: float | None = None  # first text or thinking delta
    last_delta_at: float | None = None
    ended_at: float | None = None
    deltas: int = 0
    text_chars: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    retries: int = 0
    interrupted: bool = False
    max_gap_s: float = 0.0
    gap_total_s: float = 0.0
    gap_histogram: list[int] = field(default_factory=lambda: [0] * _BUCKETS)

    def record_gap(self, gap_s: float) -> None:
        if gap_s > self.max_gap_s:
            self.max_gap_s = gap_s
        self.gap_total_s += gap_s
        index = int(gap_s * 1_000_000).bit_length()
        self.gap_histogram[index if index < _BUCKETS else _BUCKETS - 1] += 1

    @property
    def ttft_s(self) -> float | None:
        if self.first_token_at is None or self.started_at is None:
            return None
        return self.first_token_at - self.started_at

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else self.last_delta_at
        return None if end is None else end - self.started_at

    @property
    def tokens_per_second(self) -> float | None:
        """Output tokens over the time from first token to the end of the stream; None
        for a reply in one delta, whose span is only the time to read it (a rate from it
        would read like "1 token · 130000 tok/s")."""
        if not self.output_tokens or self.first_token_at is None or self.deltas < 2:
            return None
        end = self.ended_at if self.ended_at is not None else self.last_delta_at
        span = (end or self.first_token_at) - self.first_token_at
        return self.output_tokens / span if span > 0 else None

    @property
    def deltas_per_second(self) -> float | None:
        if self.deltas < 2 or self.first_token_at is None or self.last_delta_at is None:
            return None
        span = self.last_delta_at - self.first_token_at
        return (self.deltas - 1) / span if span > 0 else None

    def gap_percentile_s(self, q: float) -> float | None:
        """Upper bound of the bucket holding the q-quantile gap (q in 0..1)."""
        count = sum(self.gap_histogram)
        if not count:
            return None
        rank = q * count
        seen = 0
        for index, n in enumerate(self.gap_histogram):
            seen += n
            if seen >= rank:
                return (1 << index) / 1_000_000
        return None

    def to_dict(self) -> dict[str, Any]:
        gaps = self.deltas - 1 if self.deltas > 1 else 0
        return {
            "ttft_s": _round(self.ttft_s),
            "duration_s": _round(self.duration_s),
            "deltas": self.deltas,
            "text_chars": self.text_chars,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens_per_second": _round(self.tokens_per_second, 2),
            "deltas_per_second": _round(self.deltas_per_second, 2),
            "cost_usd": self.cost_usd,
            "retries": self.retries,
            "interrupted": self.interrupted,
            "gap_mean_s": _round(self.gap_total_s / gaps) if gaps else None,
            "gap_max_s": _round(self.max_gap_s) if gaps else None,
            "gap_p50_le_s": self.gap_percentile_s(0.5),
            "gap_p99_le_s": self.gap_percentile_s(0.99),
        }


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)
