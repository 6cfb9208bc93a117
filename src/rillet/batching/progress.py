"""What `rillet batch` shows: on a TTY a live panel (done, failed, running, tokens/s,
cost against the budget, ETA, the concurrency of each provider) and, with --stream ITEM,
that item's tokens as they arrive; piped, one line per finished item; with --json, every
event as one JSON line."""

from __future__ import annotations

import json
from asyncio import CancelledError
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from rillet.batching.events import (
    BudgetStopped, ConcurrencyChanged, ItemEvent, ItemResult, ItemRetried,
)
from rillet.batching.scheduler import BatchStats
from rillet.events import StepStarted, StreamRetry, TextDelta, event_to_dict

_MARK = {"completed": "[green]✓[/]", "failed": "[red]✗[/]", "cancelled": "[yellow]■[/]"}
_STREAM_LINES = 12  # how much of the streamed item the live panel keeps in view


def status_line(stats: BatchStats) -> str:
    parts = [f"{stats.finished + stats.skipped}/{stats.total} done",
             f"{stats.failed} failed", f"{stats.running} running",
             f"{stats.tokens_per_s:,.0f} tok/s"]
    cost = f"${stats.spent_usd:.4f}"
    if stats.budget_usd is not None:
        cost += f" of ${stats.budget_usd:.2f}"
    parts.append(cost)
    if stats.cancelled:
        parts.append(f"{stats.cancelled} cancelled")
    if stats.skipped:
        parts.append(f"{stats.skipped} from an earlier run")
    eta = stats.eta_s
    if eta is not None and stats.running:
        parts.append(f"ETA {int(eta) // 60}:{int(eta) % 60:02d}")
    windows = ", ".join(f"{name} ×{size}" for name, size in stats.windows.items())
    return " · ".join(parts) + f" · concurrency {windows}"


class Progress:
    """Consumes the batch's outputs. Use as a context manager around the loop."""

    def __init__(self, stats: BatchStats, stream: TextIO, *, follow: str | None = None,
                 json_lines: bool = False):
        self.stats = stats
        self.json_lines = json_lines
        self.follow = follow
        self.console = Console(file=stream, highlight=False, soft_wrap=True)
        self.live: Live | None = None
        self._stream = stream
        self._followed = ""  # the followed item's text, for the live panel
        self._step: str | None = None

    def __enter__(self) -> Progress:
        if not self.json_lines and self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=8,
                             get_renderable=self._render)
            self.live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None
        ran = exc_type is None or issubclass(exc_type, (KeyboardInterrupt, CancelledError))
        if ran and not self.json_lines:
            self.console.print(status_line(self.stats))

    def _render(self) -> Any:
        line = Text.from_markup(f"[bold]rillet batch[/] ▸ {status_line(self.stats)}")
        if self.follow is None:
            return line
        tail = "\n".join(self._followed.splitlines()[-_STREAM_LINES:])
        return Group(Text(f"── {self.follow} ──", style="dim"), Text(tail), line)

    def show(self, out: Any) -> None:
        if self.json_lines:
            self._json(out)
            return
        kind = type(out)
        if kind is ItemEvent:
            if out.item == self.follow:
                self._follow(out.event)
        elif kind is ItemResult:
            self._result(out)
        elif kind is ItemRetried:
            self._say(f"[yellow]↻[/] {out.item}: attempt {out.attempt} ({out.reason})")
            if out.item == self.follow:
                self._followed, self._step = "", None
        elif kind is ConcurrencyChanged:
            self._say(f"[yellow]⇅[/] {out.provider}: concurrency {out.reason} → {out.limit}")
        elif kind is BudgetStopped:
            self._say(f"[red]$[/] the batch spent ${out.spent_usd:.4f} of max_cost_usd "
                      f"${out.budget_usd:.4f}: no new item starts, running ones are cancelled")

    def _result(self, out: ItemResult) -> None:
        record = out.record
        cost = record["cost_usd"]
        what = f"{record['duration_s']:.2f}s " + ("$?" if cost is None else f"${cost:.4f}")
        if record["status"] != "completed":
            what += f" — {record['error']}"
        self._say(f"{_MARK.get(record['status'], '?')} {out.item} {what}")

    def _follow(self, event: Any) -> None:
        kind = type(event)
        if kind is StepStarted and event.provider is not None:
            header = f"\n[{event.step}]\n"
        elif kind is TextDelta:
            header = event.text
        elif kind is StreamRetry:
            header = "\n[the stream restarts]\n"
        else:
            return
        if self.live is not None:
            self._followed += header
        else:
            self._stream.write(header)
            self._stream.flush()

    def _say(self, markup: str) -> None:
        if self.live is not None:
            self.live.console.print(markup)
        elif self.follow is None:
            self.console.print(markup)

    def _json(self, out: Any) -> None:
        kind = type(out)
        if kind is ItemEvent:
            data = {"item": out.item, **event_to_dict(out.event)}
        else:
            data = {"type": kind.__name__,
                    **{name: getattr(out, name) for name in out.__dataclass_fields__}}
        self._stream.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        self._stream.flush()

