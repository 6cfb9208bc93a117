"""How the benchmarks drive rillet: workflows written as YAML text, run with `run_async`,
a listener that stamps the clock when tokens reach it, and a synthetic provider that
hands the executor ready-made events (so the per-delta cost measured is rillet's own,
not a provider's).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter
from typing import Any

from rillet.events import (
    Event, MessageComplete, ResponseComplete, StepStarted, TextDelta, Usage,
)

MODEL = "claude-sonnet-4-5"


# -- workflows --------------------------------------------------------------------------------


def step_yaml(name: str, prompt: str, *, provider: str = "anthropic_api", mode: str | None = None,
              handlers: list[str] | None = None, handler_opts: dict[str, Any] | None = None,
              async_streaming: bool = True, mock: dict[str, Any] | None = None,
              previous: str | None = None, extra: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    step: dict[str, Any] = {"name": name, "type": "claude", "provider": provider,
                            "model": MODEL, "async_streaming": async_streaming,
                            "prompt": [{"type": "static", "content": prompt}]}
    if previous:
        step["prompt"].append({"type": "previous_response", "step": previous})
    if provider == "claude_agent":
        step["claude_options"] = {"max_turns": 1}
    else:
        step["claude_options"] = {"max_tokens": 4096}
    if mode:
        step["mode"] = mode
    if handlers:
        step["stream_handler"] = handlers
    if handler_opts:
        step["stream_handler_opts"] = handler_opts
    if mock is not None:
        step["mock"] = mock
    step.update(extra or {})
    return step


def workflow(name: str, steps: list[dict[str, Any]]) -> Any:
    """A loaded Workflow from step dicts (through the real YAML loader)."""
    import yaml

    from rillet.workflow.loader import loads_workflow

    text = yaml.safe_dump({"workflow": {"name": name, "steps": steps}}, sort_keys=False)
    return loads_workflow(text, source=f"<bench {name}>")


@contextmanager
def run_dirs() -> Iterator[dict[str, Any]]:
    """Throwaway output and workspace folders for a run."""
    with tempfile.TemporaryDirectory(prefix="rillet-bench-") as tmp:
        yield {"output_dir": Path(tmp) / "out", "workspace_dir": Path(tmp) / "ws"}


class Stamps:
    """A run listener that stamps when each step starts and each text delta arrives."""

    name = "bench.stamps"

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.first: dict[str, float] = {}
        self.deltas: dict[str, list[float]] = {}

    def on_event(self, event: Event) -> None:
        kind = type(event)
        if kind is TextDelta:
            now = perf_counter()
            times = self.deltas.get(event.step)
            if times is None:
                self.first[event.step] = now
                self.deltas[event.step] = [now]
            else:
                times.append(now)
        elif kind is StepStarted:
            self.started[event.step] = perf_counter()


class FirstToken:
    """A run listener that keeps only the time of the first text delta (no per-delta work
    past a type check, so it does not weigh on throughput)."""

    name = "bench.first"

    def __init__(self) -> None:
        self.at: float | None = None

    def on_event(self, event: Event) -> None:
        if self.at is None and type(event) is TextDelta:
            self.at = perf_counter()


# -- the synthetic provider ---------------------------------------------------------------------


def prebuilt_events(step: str, deltas: int, piece: str = "tok ") -> list[Event]:
    """A finished stream: `deltas` text deltas, then usage and the end, as a provider emits."""
    events: list[Event] = [TextDelta(step, piece) for _ in range(deltas)]
    events += [Usage(step, 12, deltas), MessageComplete(step, "end_turn", MODEL),
               ResponseComplete(step, MODEL, "end_turn", 12, deltas)]
    return events


async def replay(events: list[Event]) -> AsyncIterator[Event]:
    for event in events:
        yield event


async def fresh_text_stream(step: str, deltas: int) -> AsyncIterator[Event]:
    """Like a provider decoding the wire: every delta is a new event with a new string, and
    nothing is kept here, so whatever stays in memory is held by rillet."""
    for i in range(deltas):
        yield TextDelta(step, f" w{i % 997}")
    yield Usage(step, 12, deltas)
    yield MessageComplete(step, "end_turn", MODEL)
    yield ResponseComplete(step, MODEL, "end_turn", 12, deltas)


@contextmanager
def synthetic_provider(make_stream: Callable[[Any], AsyncIterator[Event]]) -> Iterator[None]:
    """Every model step's stream comes from `make_stream(request)` instead of a provider
    (the same seam the engine's own tests use)."""
    from rillet.providers import registry

    original = registry.ProviderPool.open_stream
    registry.ProviderPool.open_stream = lambda self, request, kind: make_stream(request)
    try:
        yield
    finally:
        registry.ProviderPool.open_stream = original
