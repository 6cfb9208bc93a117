"""The AIMD window, the Claude CLI memory cap, and the progress line."""

from __future__ import annotations

import io

import pytest

from rillet.batching.aimd import Window, provider_keys
from rillet.batching.events import ConcurrencyChanged, ItemResult
from rillet.batching.memory import claude_cli_cap
from rillet.batching.progress import Progress, status_line
from rillet.batching.scheduler import BatchStats
from rillet.workflow.loader import load_workflow


def test_a_rate_limit_halves_the_window_once_per_burst_and_successes_grow_it_back():
    window = Window("anthropic_api/live/x", 16, cooldown_s=60)
    assert window.rate_limited() and window.size == 8
    assert not window.rate_limited() and window.size == 8  # the same burst
    grown = 0
    while window.size < 9:
        window.succeeded()
        grown += 1
    assert 8 <= grown <= 9  # +1/size each: about +1 per window's worth of successes
    for _ in range(200):
        window.succeeded()
    assert window.size == 16  # never past the ceiling


def test_the_window_never_closes():
    window = Window("w", 2, cooldown_s=0)
    for _ in range(5):
        window.rate_limited()
    assert window.size == 1 and window.free


def test_provider_keys_name_each_provider_and_never_the_key(workflow_file, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret-value")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    keys = provider_keys(load_workflow(workflow_file), "mixed")
    assert [k.rsplit("/", 1)[0] for k in keys] == ["anthropic_api/live", "gemini/sim"]
    assert not any("secret" in k for k in keys)


def test_claude_cli_processes_are_bounded_by_half_the_free_memory(tmp_path):
    flow = tmp_path / "f.yaml"
    flow.write_text("workflow:\n  name: f\n  steps:\n"
                    "    - {name: a, type: claude, prompt: hi}\n"
                    "    - {name: b, type: claude, prompt: hi}\n", encoding="utf-8")
    wf = load_workflow(flow)
    assert claude_cli_cap(wf, "sim", available_mb=1900) == 2  # 950 MB / (2 CLIs x 190 MB)
    assert claude_cli_cap(wf, "sim", prewarm=False, available_mb=1900) == 5
    assert claude_cli_cap(wf, "sim", available_mb=100) == 1
    assert claude_cli_cap(wf, "mock", available_mb=100) is None


@pytest.fixture
def stats() -> BatchStats:
    stats = BatchStats(total=10, completed=3, failed=1, running=2, output_tokens=900,
                       spent_usd=0.25, budget_usd=1.0, windows={"gemini/sim/sim": 4})
    stats.started -= 3.0  # three seconds in
    return stats


def test_the_status_line_has_done_failed_running_tokens_cost_budget_eta_and_windows(stats):
    line = status_line(stats)
    assert line.startswith("4/10 done · 1 failed · 2 running · 300 tok/s · $0.2500 of $1.00")
    assert "ETA 0:04" in line and line.endswith("concurrency gemini/sim/sim ×4")


def test_on_a_terminal_the_progress_is_a_live_panel(stats):
    out = io.StringIO()
    progress = Progress(stats, out)
    progress.console.force_terminal = True  # as on a TTY
    progress.console._force_terminal = True
    with progress:
        assert progress.live is not None
        progress.show(ConcurrencyChanged("gemini/sim/sim", 2, "lowered: gemini: rate_limit"))
        progress.show(ItemResult("line-3", {"status": "failed", "duration_s": 0.5,
                                            "cost_usd": 0.01, "error": "boom"}))
    text = out.getvalue()
    assert "gemini/sim/sim: concurrency lowered" in text
    assert "line-3 0.50s $0.0100 — boom" in text
    assert "\x1b[" in text  # drawn with terminal controls, not plain lines


def test_without_a_figure_the_cap_reads_the_free_memory_of_this_machine(tmp_path):
    flow = tmp_path / "f.yaml"
    flow.write_text("workflow:\n  name: f\n  steps:\n    - {name: a, type: claude, prompt: hi}\n",
                    encoding="utf-8")
    cap = claude_cli_cap(load_workflow(flow), "sim")
    with open("/proc/meminfo", encoding="ascii") as file:
        free_kb = next(int(line.split()[1]) for line in file if line.startswith("MemAvailable"))
    assert abs(cap - free_kb / 1024 * 0.5 // 190) <= 1


def test_ray_chunks_fold_a_steps_text_and_usage_and_flush_at_4_kb():
    import queue

    from rillet.batching.ray_backend import _END, COALESCE_BYTES, _coalesced
    from rillet.events import StepStarted, TextDelta, Usage

    events: queue.SimpleQueue = queue.SimpleQueue()
    events.put(StepStarted("a", "claude"))
    for n in range(3):
        events.put(TextDelta("a", f"t{n} "))
        events.put(Usage("a", 5, n + 1))
    events.put(TextDelta("b", "other"))
    events.put(_END)
    [(kind, chunk)] = list(_coalesced(events))
    assert kind == "events"
    assert chunk == [StepStarted("a", "claude"), TextDelta("a", "t0 t1 t2 "), Usage("a", 5, 3),
                     TextDelta("b", "other")]
    big: queue.SimpleQueue = queue.SimpleQueue()
    for _ in range(3):
        big.put(TextDelta("a", "x" * (COALESCE_BYTES // 2)))
    big.put(_END)
    sizes = [sum(len(e.text) for e in chunk) for _, chunk in _coalesced(big)]
    assert sizes == [COALESCE_BYTES, COALESCE_BYTES // 2]
