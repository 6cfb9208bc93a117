"""What every scenario shares: running variants side by side, medians and ratios, the
rows of the results table, and the machine the numbers came from.

A scenario returns a `ScenarioResult`: rows of (metric, rillet, baseline, ratio, target,
verdict) plus free-form details. Timings are compared, never asserted: a target that is
missed is reported with the margin, the run itself still succeeds.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

# Targets are checked with one of these comparisons against the rillet figure.
AT_MOST, AT_LEAST = "<=", ">="


@dataclass
class Row:
    metric: str
    rillet: float | None
    unit: str = ""
    baseline: float | None = None
    baseline_name: str | None = None  # what the baseline is (e.g. "raw anthropic SDK")
    target: float | None = None
    compare: str | None = None  # AT_MOST | AT_LEAST
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.rillet is None or not self.baseline:
            return None
        return self.rillet / self.baseline

    @property
    def met(self) -> bool | None:
        if self.target is None or self.compare is None or self.rillet is None:
            return None
        return self.rillet <= self.target if self.compare == AT_MOST else \
            self.rillet >= self.target

    @property
    def margin(self) -> float | None:
        """How far past the target (positive: met with room; negative: short by)."""
        if self.target is None or self.rillet is None:
            return None
        gap = self.target - self.rillet
        return gap if self.compare == AT_MOST else -gap

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = _round(self.ratio, 6)
        out["met"] = self.met
        out["rillet"] = _round(self.rillet)
        out["baseline"] = _round(self.baseline)
        out["margin"] = _round(self.margin)
        return out


@dataclass
class ScenarioResult:
    number: int
    title: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # what broke, when it crashed
    seconds: float = 0.0

    def row(self, *args: Any, **kwargs: Any) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        return row

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "title": self.title, "error": self.error, "seconds": round(self.seconds, 3),
                "rows": [r.to_dict() for r in self.rows], "details": self.details}


@dataclass
class BenchConfig:
    quick: bool = False
    repetitions: int = 5

    @classmethod
    def make(cls, quick: bool) -> BenchConfig:
        return cls(quick=quick, repetitions=1 if quick else 5)

    def pick(self, quick: Any, full: Any) -> Any:
        return quick if self.quick else full


# -- side by side -----------------------------------------------------------------------------


async def alternate(variants: dict[str, Callable[[], Awaitable[Any]]], repetitions: int,
                    warmup: int = 1) -> dict[str, list[Any]]:
    """Run every variant once per round, round after round, changing which goes first,
    so drift (CPU frequency, other load, caches) hits each the same. Warm-up rounds run
    but are not kept: the first call pays for imports and connection set-up."""
    names = list(variants)
    samples: dict[str, list[Any]] = {name: [] for name in names}
    for round_number in range(warmup + repetitions):
        order = names[round_number % len(names):] + names[:round_number % len(names)]
        for name in order:
            value = await variants[name]()
            if round_number >= warmup:
                samples[name].append(value)
    return samples


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1) of raw samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


# -- memory -----------------------------------------------------------------------------------


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size now, from /proc (0 for a process that is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def peak_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> bool:
    """Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def children_with(marker: bytes, parent: int | None = None) -> list[int]:
    """Live child processes of `parent` (default: this one) whose command line contains
    `marker`."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z" and marker in command:
            found.append(int(entry))
    return found


# -- the machine ------------------------------------------------------------------------------

PACKAGES = ("rillet", "anthropic", "claude-agent-sdk", "google-genai", "aiohttp", "httpx",
            "pydantic")


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = None
    try:
        with open("/proc/meminfo") as f:
            memory = int(f.readline().split()[1]) * 1024
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(memory / 2**30, 1)
        if memory else None, "python": sys.version.split()[0],
        "implementation": platform.python_implementation(), "os": platform.platform(),
        "packages": versions,
    }


# -- the table --------------------------------------------------------------------------------


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s" and abs(value) < 1:
        return f"{value * 1000:.2f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "µs":
        return f"{value:.2f} µs"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if abs(value) >= 1000:
        return f"{value:,.0f}{(' ' + unit) if unit else ''}"
    return f"{value:.3g}{(' ' + unit) if unit else ''}"


def verdict(row: Row) -> str:
    if row.met is None:
        return ""
    target = f"{row.compare} {format_value(row.target, row.unit)}"
    return f"✓ {target}" if row.met else f"✗ {target}"


def table(results: list[ScenarioResult]) -> str:
    header = ("#", "metric", "rillet", "baseline", "ratio", "target")
    lines: list[tuple[str, ...]] = []
    for result in results:
        if result.error:
            lines.append((str(result.number), result.title, "error", "", "",
                          result.error[:70]))
        for row in result.rows:
            ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
            baseline = format_value(row.baseline, row.unit) if row.baseline is not None else ""
            lines.append((str(result.number), row.metric, format_value(row.rillet, row.unit),
                          baseline, ratio, verdict(row)))
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(header)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths)),
           "-|-".join("-" * w for w in widths)]
    out += [" | ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines]
    return "\n".join(out)


def markdown_table(results: list[ScenarioResult]) -> str:
    out = ["| # | metric | rillet | baseline | ratio | target |", "|---|---|---|---|---|---|"]
    for result in results:
        if result.error:
            out.append(f"| {result.number} | {result.title} | error | | | {result.error} |")
        for row in result.rows:
            ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
            baseline = ""
            if row.baseline is not None:
                baseline = format_value(row.baseline, row.unit)
                if row.baseline_name:
                    baseline += f" ({row.baseline_name})"
            metric = f"{row.metric} ({row.note})" if row.note else row.metric
            out.append(f"| {result.number} | {metric} | {format_value(row.rillet, row.unit)}"
                       f" | {baseline} | {ratio} | {verdict(row)} |")
    return "\n".join(out)


def _round(value: float | None, digits: int = 9) -> float | None:
    """`value` to `digits` significant digits: a ratio of two rounded figures then stays
    within 1e-8 of the ratio of the exact ones, however small the figures are."""
    return None if value is None else float(f"{value:.{digits}g}")
