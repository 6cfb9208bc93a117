"""Fixtures for handler tests (the streams they drive are in handler_streams.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from rillet.streaming.handler import HandlerContext

from handler_streams import STEP


@pytest.fixture
def ctx(tmp_path: Path) -> HandlerContext:
    return HandlerContext(step=STEP, run_id="run-1", output_dir=tmp_path / "out",
                          stdout=io.StringIO())
