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
    Event, HandlerFailed, PipelineStarted, StepCompleted, StepFailed, StepSkipped,
    StepStarted, event_to_dict,
)
from rillet.streaming.handlers._lanes import is_shared, live_console

_MODE_WORDS = {
    "mock": "the in-process mock provider",
    "sim": "the real SDKs (Claude: the Claude Agent SDK and its bundled CLI) against the "
           "built-in simulator",
    "live": "the live APIs",
}


def describe_modes(workflow: Any, run_mode: str | None) -> str:
    """How the model steps will run, in words, e.g. for a run with no API key."""
    from rillet.engine.modes import default_run_mode, step_mode
    from rillet.steps import MODEL_STEPS

    chosen = run_mode or default_run_mode()
    modes = {step_mode(chosen, step.mode, MODEL_STEPS[step.type].provider_kind(step))
             for step in workflow.steps if step.type in MODEL_STEPS}
    if not modes:
        return "no model steps"
    words = "; ".join(_MODE_WORDS[m] for m in sorted(modes))
    if chosen == "mixed" and "sim" in modes:
        words += " (no API key found for those steps)"
    return words


class RunReporter:
    name = "reporter"

    def __init__(self, stream: TextIO, output_dir: Path):
        self.stream = stream
        self.console = Console(file=stream, highlight=False, soft_wrap=True)
        self.output_dir = output_dir
        self.run_id: str | None = None
        self._streaming: set[str] = set()

    def print(self, markup: str) -> None:
        (live_console(self.stream) or self.console).print(markup)

    def intro(self, workflow: Any, modes: str) -> None:
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
        elif kind is StepCompleted and event.step not in self._streaming:
            self.print(f"[green]✓[/] {event.step}: {_short(event.text)}")  # type: ignore[attr-defined]
        elif kind is StepFailed and event.step not in self._streaming:
            # A model step's failure is in its console footer and in the run's summary.
            self.print(f"[red]✗ {event.step}: {event.error}[/]")  # type: ignore[attr-defined]
        elif kind is HandlerFailed:
            # Mid-stream the cursor sits after the step's text: start a line of our own.
            # Concurrent steps write whole lines, so then the cursor is at a line start.
            lead = "\n" if event.step in self._streaming and not is_shared(self.stream) else ""
            self.print(f"{lead}[yellow]! {event.step}: handler '{event.handler}' failed and "  # type: ignore[attr-defined]
                               f"was detached: {event.error}[/]")  # type: ignore[attr-defined]

    def outro(self, result: Any) -> None:
        where = result.results_path
        if result.success:
            cost = "$?" if result.cost_usd is None else f"${result.cost_usd:.4f}"
            self.print(f"[green]✓ done[/] in {result.duration_s:.2f} s · {cost} · "
                       f"results: {where}")
        else:
            self.print(f"[red]✗ {result.status}[/]: {result.error}\n"
                               f"  the text produced so far is kept in {where}")

    def cancelled(self) -> None:
        where = self.output_dir / (self.run_id or "") / "results.json"
        self.print(f"\n[yellow]✗ cancelled[/]: streams closed; the text produced so far "
                           f"is kept in {where}")


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
