"""The first `make demo` builds the environment (about half a minute): it says so, stage
by stage, instead of sitting silent."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_building_the_environment_prints_one_line_per_stage(tmp_path):
    venv = tmp_path / "venv"
    plan = subprocess.run(["make", "-n", "-B", f"VENV={venv}", f"{venv}/.installed"],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout
    stages = [line for line in plan.splitlines() if "echo" in line]
    assert len(stages) == 3, plan
    assert "creating the virtual environment" in stages[0]
    assert "installing rillet and its dependencies" in stages[1]
    assert "ready" in stages[2]
    install = next(i for i, line in enumerate(plan.splitlines()) if "pip install" in line)
    assert plan.splitlines().index(stages[1]) < install  # said before the silent part
