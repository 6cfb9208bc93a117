"""The benchmark suite's quick mode, as CI runs it: it must run every scenario to the end
and write a well-formed results file. Timings are reported, never asserted here.

It drives the real anthropic SDK and the Claude CLI against the simulator (a few CLI
starts), so it takes some seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rillet.cli import app

# The quick suite takes 70 s here and past 110 s on a busy machine: more than the
# project's 120 s per test, which would stop the module's fixture before its own 400 s.
pytestmark = [pytest.mark.sdk, pytest.mark.timeout(450)]

ROOT = Path(__file__).resolve().parents[2]
MACHINE_KEYS = {"cpu", "cores", "memory_gb", "python", "packages"}
ROW_KEYS = {"metric", "rillet", "unit", "baseline", "ratio", "target", "compare", "met",
            "margin"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path_factory.mktemp("bench")
    # This checkout's src first: an installed rillet (an editable install of another
    # checkout) must not be the one measured.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    files = list(out.glob("*-quick.json"))
    assert len(files) == 1, done.stdout + done.stderr
    return done, json.loads(files[0].read_text())


def test_quick_suite_runs_every_scenario_without_errors(quick_run):
    done, document = quick_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [s["number"] for s in document["scenarios"]] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert [s["error"] for s in document["scenarios"]] == [None] * 12
    assert document["quick"] is True and document["repetitions"] == 1


def test_results_name_the_machine_and_the_command(quick_run):
    _, document = quick_run
    assert MACHINE_KEYS <= set(document["machine"])
    assert document["machine"]["cores"] >= 1
    assert document["machine"]["packages"]["anthropic"]
    assert document["command"] == "python -m bench --quick"


def test_every_row_holds_a_measured_number_and_a_verdict_where_there_is_a_target(quick_run):
    _, document = quick_run
    rows = [row for s in document["scenarios"] for row in s["rows"]]
    assert len(rows) >= 10
    for row in rows:
        assert ROW_KEYS <= set(row), row
        assert isinstance(row["rillet"], (int, float)), row
        if row["target"] is not None:
            assert isinstance(row["met"], bool), row
        if row["baseline"]:
            # Both figures and the ratio are kept to significant digits (9 and 6).
            assert row["ratio"] == pytest.approx(row["rillet"] / row["baseline"], rel=1e-5)


def test_the_table_is_printed_with_every_scenario(quick_run):
    done, document = quick_run
    assert "| metric" in done.stdout and "results:" in done.stdout
    for scenario in document["scenarios"]:
        assert f"scenario {scenario['number']}:" in done.stdout


def test_rillet_bench_command_runs_the_chosen_scenario_only(tmp_path):
    result = CliRunner().invoke(app, ["bench", "--quick", "--scenario", "2",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("*-quick.json")
    document = json.loads(path.read_text())
    assert [s["number"] for s in document["scenarios"]] == [2]
    assert document["scenarios"][0]["rows"][0]["metric"].startswith("deltas/s")
