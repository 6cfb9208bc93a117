"""What `rillet run` prints around the streamed text: one line to start, one per step that
does not stream (skipped, variables, failures), and a summary. The streamed text itself
comes from each step's console handler; while concurrent steps show live lanes on the
terminal, these lines are printed above the lanes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from rillet.events import (
    Event, HandlerFailed, LoopBatch, PipelineStarted, StepCompleted, StepFailed, StepSkipped,
    StepStarted, event_to_dict,
)
from rillet.streaming.handlers._lanes import is_shared, live_console

_SDK_WORDS = {
    "claude_agent": "the Claude Agent SDK and its bundled CLI",
    "anthropic_api": "the anthropic SDK",
    "gemini": "google-genai",
}
_WHERE = {"sim": "against the built-in simulator", "live": "against the live API"}


def describe_modes(workflow: Any, run_mode: str | None) -> str:
    """What the model steps will run on, in words: the SDKs really used, and where."""
    from rillet.engine.modes import default_run_mode, providers_used

    chosen = run_mode or default_run_mode()
    by_mode: dict[str, dict[str, None]] = {}
    for kind, mode, _ in providers_used(workflow, chosen):
        by_mode.setdefault(mode, {})[kind] = None
    if not by_mode:
        return "no model steps"
    parts = []
    for mode in sorted(by_mode):
        if mode == "mock":
            parts.append("the in-process mock provider")
            continue
        sdks = [_SDK_WORDS[kind] for kind in by_mode[mode]]
        words = (", ".join(sdks[:-1]) + " and " + sdks[-1]) if len(sdks) > 1 else sdks[0]
        parts.append(f"{words} {_WHERE[mode]}{'s' * (mode == 'live' and len(sdks) > 1)}")
    words = "; ".join(parts)
    if chosen == "mixed" and "sim" in by_mode:
        words += " (no API key found for those steps)"
    return words


def failure_lines(result: Any) -> list[str]:
    """How a run that did not complete ended, and where what it produced is."""
    lines = [f"✗ {result.status}: {result.error}"]
    if any(r.text for r in result.results.values()):
        lines.append(f"  the text produced so far is kept in {result.results_path}")
    elif result.results_path is not None:
        lines.append(f"  no text was produced; the run is recorded in {result.results_path}")
    return lines


class RunReporter:
    name = "reporter"

    def __init__(self, stream: TextIO, output_dir: Path, errors: TextIO | None = None):
        self.stream = stream
        self.console = Console(file=stream, highlight=False, soft_wrap=True)
        # Failures go to stderr, so a pipe of the output still shows them.
        self.errors = Console(file=errors, highlight=False, soft_wrap=True) \
            if errors is not None else self.console
        self.output_dir = output_dir
        self.run_id: str | None = None
        # environment.debug_level: performance adds each step's figures to the summary.
        self.performance = False
        self._figures: list[tuple[str, str]] = []  # (step, its figures), as they finished
        self._streaming: set[str] = set()
        self._produced = False  # some step has text

    def print(self, markup: str) -> None:
        (live_console(self.stream) or self.console).print(markup)

    def print_error(self, text: str, markup: bool = True) -> None:
        # While the lanes' live view holds the terminal, a line on stderr would tear it:
        # print above the lanes instead (the live view only runs on a terminal, never a pipe).
        (live_console(self.stream) or self.errors).print(text, markup=markup)

    def intro(self, workflow: Any, modes: str) -> None:
        environment = getattr(workflow, "environment", None)
        self.performance = getattr(environment, "debug_level", None) == "performance"
        self.print(f"[bold]rillet[/] ▸ [bold]{workflow.name}[/] · "
                           f"{_count(len(workflow.steps), 'step')} · {modes}")

    def on_event(self, event: Event) -> None:
        kind = type(event)
        if kind is PipelineStarted:
            self.run_id = event.run_id  # type: ignore[attr-defined]
        elif kind is StepStarted and event.provider is None:  # type: ignore[attr-defined]
            self._streaming.discard(event.step)
        elif kind is StepStarted:
            self._streaming.add(event.step)
        elif kind is StepSkipped:
            self.print(f"[dim]○ {event.step}: skipped ({event.reason})[/]")  # type: ignore[attr-defined]
        elif kind is LoopBatch:
            self.print(f"[dim]· {event.step}: batch {event.batch}/{event.batches}, "  # type: ignore[attr-defined]
                       f"iterations {event.first}-{event.last}[/]")  # type: ignore[attr-defined]
        elif kind is StepCompleted:
            if self.performance:
                self._figures.append((event.step, step_figures(event)))  # type: ignore[arg-type]
            self._produced = self._produced or bool(event.text)  # type: ignore[attr-defined]
            if event.step not in self._streaming:
                self.print(f"[green]✓[/] {event.step}: {_short(event.text)}")  # type: ignore[attr-defined]
        elif kind is StepFailed:
            self._produced = self._produced or bool(event.partial_text)  # type: ignore[attr-defined]
            if event.step not in self._streaming:
                # A model step's failure is in its console footer and in the run's summary.
                self.print_error(f"[red]✗ {event.step}: {event.error}[/]")  # type: ignore[attr-defined]
        elif kind is HandlerFailed:
            # Mid-stream the cursor sits after the step's text: start a line of our own.
            # Concurrent steps write whole lines, so then the cursor is at a line start.
            lead = "\n" if event.step in self._streaming and not is_shared(self.stream) else ""
            self.print(f"{lead}[yellow]! {event.step}: handler '{event.handler}' failed and "  # type: ignore[attr-defined]
                               f"was detached: {event.error}[/]")  # type: ignore[attr-defined]

    def outro(self, result: Any) -> None:
        where = result.results_path
        if self.performance and self._figures:
            width = max(len(step) for step, _ in self._figures)
            lines = [f"  {step.ljust(width)}  {figures or '-'}" for step, figures in self._figures]
            self.print("[bold]performance[/] (each step, as it finished):\n"
                       + "\n".join(lines).replace("[", "\\["))
        if result.success:
            cost = "$?" if result.cost_usd is None else f"${result.cost_usd:.4f}"
            degraded = getattr(result, "degraded", None)
            mark = f"[yellow]✓ done, degraded: {', '.join(degraded)}[/]" if degraded \
                else "[green]✓ done[/]"
            self.print(f"{mark} in {result.duration_s:.2f} s · {cost} · results: {where}")
        else:
            self.print_error("\n".join(failure_lines(result)), markup=False)

    def cancelled(self) -> None:
        where = self.output_dir / (self.run_id or "") / "results.json"
        kept = (f"the text produced so far is kept in {where}" if self._produced
                else f"no text was produced; the run is recorded in {where}")
        self.print_error(f"\n[yellow]✗ cancelled[/]: streams closed; {kept}")


def step_figures(event: StepCompleted) -> str:
    """A finished step's figures, as its console footer gives them (only those measured)."""
    from rillet.result import StepResult
    from rillet.streaming.handlers.console import _figures

    metrics = event.metrics or {}
    return _figures(StepResult(event.step, metrics=metrics, cost_usd=event.cost_usd,
                               output_tokens=int(metrics.get("output_tokens") or 0)))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _short(text: str, limit: int = 100) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


class JsonLines:
    """`--json`: every event as one JSON line, for other programs to read."""

    name = "json"

    def __init__(self, stream: TextIO):
        self.stream = stream

    def on_event(self, event: Event) -> None:
        self.stream.write(json.dumps(event_to_dict(event), ensure_ascii=False, default=str) + "\n")
        self.stream.flush()
