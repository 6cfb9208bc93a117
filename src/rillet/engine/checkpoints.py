"""Checkpoints: after each completed step, its result and the run's variables are appended
to `<checkpoint_dir>/<workflow>.jsonl`. `resume` replays that file so completed steps are
not run again. Only plain data is stored: results, never live streams.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rillet.result import StepResult


def checkpoint_path(checkpoint_dir: Path, workflow_name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", workflow_name) or "workflow"
    return checkpoint_dir / f"{safe}.jsonl"


class Checkpointer:
    def __init__(self, path: Path, *, fresh: bool):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w" if fresh else "a", encoding="utf-8")

    def save(self, result: StepResult, state: dict[str, Any], global_vars: dict[str, Any]) -> None:
        entry = {"result": result.to_dict(), "state": state, "global_vars": global_vars}
        self._file.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def load_checkpoint(path: Path) -> tuple[dict[str, StepResult], dict[str, Any], dict[str, Any]]:
    """Completed results, state and global variables as of the last checkpointed step."""
    results: dict[str, StepResult] = {}
    state: dict[str, Any] = {}
    global_vars: dict[str, Any] = {}
    if not path.exists():
        return results, state, global_vars
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            break  # a line cut short by a crash: everything before it is good
        result = StepResult.from_dict(entry["result"])
        if result.status == "completed":
            results[result.step] = result
        state, global_vars = entry.get("state", {}), entry.get("global_vars", {})
    return results, state, global_vars
