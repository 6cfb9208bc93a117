"""The run's results on disk.

Each finished step, at any depth, is appended to `steps.jsonl` at once under its path
(`"step": "review[3].summarise"`), so a crash or Ctrl-C keeps what was done and nothing
already written is serialised again; a container's line leaves out its children, which
have lines of their own. `results.json` is written
once at the end of the run with every top-level step's text, metrics and status, a
container's children nested under `children` (a mapping by name, or a list with one
mapping per loop iteration).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rillet.result import StepResult
from rillet.safe_files import WriteFailed, write_atomic


class ResultStore:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.log_path = run_dir / "steps.jsonl"
        self.results_path = run_dir / "results.json"
        try:
            run_dir.mkdir(parents=True, exist_ok=True)  # an unusable folder fails the run at once
        except OSError as exc:
            raise WriteFailed(f"cannot write the run's results in {run_dir}: "
                              f"{exc.strerror or exc}") from None
        self._log: Any = None  # opened with the first result: not before the first token

    def _open_log(self) -> Any:
        if self._log is None:
            try:
                self._log = self.log_path.open("a", encoding="utf-8")
            except OSError as exc:
                raise WriteFailed(f"cannot write the run's results in {self.run_dir}: "
                                  f"{exc.strerror or exc}") from None
        return self._log

    def record(self, result: StepResult) -> None:
        self._open_log()
        # Written in two calls: adding the newline to the JSON would copy a long text again.
        self._log.write(json.dumps(result.to_dict(children=False), ensure_ascii=False, default=str))
        self._log.write("\n")
        self._log.flush()

    def write_summary(self, summary: dict[str, Any], results: dict[str, StepResult]) -> Path:
        document = dict(summary)
        document["steps"] = {name: r.to_dict() for name, r in results.items()}
        # Streamed into a temporary file (no second copy of the text), then renamed.
        return write_atomic(self.results_path, lambda file: json.dump(
            document, file, indent=2, ensure_ascii=False, default=str), what="the results")

    def close(self) -> None:
        if self._log is not None and not self._log.closed:
            self._log.close()
