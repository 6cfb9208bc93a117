"""Helpers for engine tests: write a workflow to a temp folder and run it on the mock."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

# The workflow layer (loader, templates, conditions) and the handlers are not written yet;
# these tests run as soon as they exist.

from rillet.events import Event


class Recorder:
    """A run-level listener that keeps every event."""

    name = "recorder"

    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type, step: str | None = None) -> list[Event]:
        return [e for e in self.events if type(e) is kind and (step is None or e.step == step)]

    def types(self, step: str) -> list[str]:
        return [type(e).__name__ for e in self.events if e.step == step]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def write_workflow(tmp_path: Path):
    def write(body: str, name: str = "flow.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(body), encoding="utf-8")
        return path

    return write


@pytest.fixture
def run_opts(tmp_path: Path, recorder: Recorder) -> dict:
    return {"mode": "mock", "output_dir": tmp_path / "out", "workspace_dir": tmp_path / "ws",
            "listeners": [recorder]}
