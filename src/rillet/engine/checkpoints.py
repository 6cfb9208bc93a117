"""Checkpoints: after each completed step, its result and the run's variables are appended
to `<checkpoint_dir>/<workflow>.jsonl`. `resume` replays that file so completed steps are
not run again. Only plain data is stored: results, never live streams.

The file opens with one record naming the run's inputs (a digest), so a resume with other
inputs is refused rather than mixing two runs' results. Each record is one line written
by a single call; a line cut short by a crash is skipped when loading and cut off before
the resumed run appends, so a second resume still sees every finished step. The file is
locked while a run writes it (see `rillet.safe_files`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from rillet.errors import RunRefused
from rillet.result import StepResult
from rillet.safe_files import WriteFailed, open_exclusive


class CheckpointMismatch(RunRefused):
    """`--resume` with inputs other than the checkpointed run's."""


def checkpoint_path(checkpoint_dir: Path, workflow_name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", workflow_name) or "workflow"
    return checkpoint_dir / f"{safe}.jsonl"


def inputs_digest(inputs: dict[str, Any]) -> str:
    text = json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Checkpointer:
    def __init__(self, path: Path, *, fresh: bool, inputs: dict[str, Any] | None = None):
        self.path = path
        if not fresh:
            _cut_partial_line(path)
        self._file = open_exclusive(path, what="the checkpoint", truncate=fresh)
        if self._file.tell() == 0:
            self._write({"run": {"inputs_sha256": inputs_digest(inputs or {})}})

    def save(self, result: StepResult, state: dict[str, Any], global_vars: dict[str, Any]) -> None:
        self._write({"result": result.to_dict(), "state": state, "global_vars": global_vars})

    def _write(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        try:
            os.write(self._file.fileno(), line)  # one call: a record is whole or cut last
        except OSError as exc:
            raise WriteFailed(f"cannot write the checkpoint {self.path}: "
                              f"{exc.strerror or exc}") from None

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def load_checkpoint(path: Path, inputs: dict[str, Any] | None = None,
                    ) -> tuple[dict[str, StepResult], dict[str, Any], dict[str, Any]]:
    """Completed results, state and global variables as of the last checkpointed step.
    With `inputs`, a checkpoint made with other inputs raises CheckpointMismatch."""
    results: dict[str, StepResult] = {}
    state: dict[str, Any] = {}
    global_vars: dict[str, Any] = {}
    if not path.exists():
        return results, state, global_vars
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # blank, or cut short by a crash: the records around it are good
        if not isinstance(entry, dict):
            continue
        if "run" in entry:
            recorded = (entry["run"] or {}).get("inputs_sha256")
            if inputs is not None and recorded not in (None, inputs_digest(inputs)):
                raise CheckpointMismatch(
                    f"the checkpoint {path} was made with other inputs; run without "
                    f"--resume to start afresh, or resume with the same inputs")
            continue
        if not isinstance(entry.get("result"), dict):
            continue
        result = StepResult.from_dict(entry["result"])
        if result.status == "completed":
            results[result.step] = result
        state, global_vars = entry.get("state", {}), entry.get("global_vars", {})
    return results, state, global_vars


def _cut_partial_line(path: Path) -> None:
    """Drop a last line a crash cut short, so the next record starts on a line of its own."""
    try:
        with path.open("rb+") as file:
            data = file.read()
            end = data.rfind(b"\n") + 1
            if end != len(data):
                file.truncate(end)
    except FileNotFoundError:
        pass
