"""How many items may hold a Claude CLI process at once: each CLI takes about 190 MB, and
the batch keeps them within half the memory free when it starts."""

from __future__ import annotations

import os
from typing import Any

CLAUDE_CLI_MB = 190


def claude_cli_cap(workflow: Any, run_mode: str | None, *, prewarm: bool = True,
                   available_mb: float | None = None) -> int | None:
    """The most items to run at once so their CLIs fit, or None when the workflow starts
    no CLI (no Claude Agent step, or only mock ones)."""
    from rillet.engine.modes import default_run_mode, step_mode
    from rillet.steps import MODEL_STEPS

    chosen = run_mode or default_run_mode()
    clis = sum(1 for step in getattr(workflow, "steps", []) if step.type in MODEL_STEPS
               and MODEL_STEPS[step.type].provider_kind(step) == "claude_agent"
               and step_mode(chosen, step.mode, "claude_agent") != "mock")
    if not clis:
        return None
    per_item = 2 if prewarm and clis > 1 else 1  # the next step's CLI is warmed meanwhile
    free = available_mb if available_mb is not None else _available_mb()
    return max(1, int(free * 0.5 // (CLAUDE_CLI_MB * per_item)))


def _available_mb() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
