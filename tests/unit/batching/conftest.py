"""Fixtures for the batch tests: the two-step workflow on disk and a fast script."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_flows import TWO_STEPS, script

from rillet.sim.script import Script


@pytest.fixture
def workflow_file(tmp_path: Path) -> Path:
    path = tmp_path / "two_steps.yaml"
    path.write_text(TWO_STEPS, encoding="utf-8")
    return path


@pytest.fixture
def fast_script() -> Script:
    return Script.model_validate(script())


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs create the workflow's workspace in the current folder: keep it out of the repo."""
    monkeypatch.chdir(tmp_path)
