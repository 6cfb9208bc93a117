"""Everything one run knows: the workflow, where it writes, its variables and results.

The template context is built once and updated in place as steps finish, so rendering a
step never copies or re-scans earlier results.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rillet.result import StepResult
from rillet.safe_files import UnsafePath, inside
from rillet.workflow.unset_names import CONTEXT_KEY

RUN_MODES = ("mock", "sim", "live", "mixed")


TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S"  # {{ timestamp }}: safe in file names


def new_run_id() -> str:
    stamp = datetime.now(timezone.utc).strftime(TIMESTAMP_FORMAT)
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


@dataclass
class RunContext:
    workflow: Any  # rillet.workflow.schema.Workflow
    run_id: str
    base_dir: Path  # the workflow file's folder: relative paths in the workflow start here
    output_dir: Path  # where output_to_file and handler files go
    run_dir: Path  # output_dir/<run_id>: results.json and the step log
    workspace_dir: Path
    run_mode: str = "mixed"
    inputs: dict[str, Any] = field(default_factory=dict)
    global_vars: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    results: dict[str, StepResult] = field(default_factory=dict)
    cost_usd: float = 0.0
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    read_policy: Any = None  # rillet.steps.prompt_files.ReadPolicy: which files prompts read
    prompt_files: dict[Path, str] = field(default_factory=dict)  # read ahead, off the loop
    # --unset-names empty: rillet.workflow.unset_names.EmptyUnsetNames; None: strict
    unset_names: Any = None

    def template_context(self) -> dict[str, Any]:
        # The same dicts every time: steps finishing later show up without a rebuild.
        ctx = {
            "steps": self.results,
            "global_vars": self.global_vars,
            "inputs": self.inputs,
            "state": self.state,
            "workflow": {"name": self.workflow.name, "run_id": self.run_id,
                         "environment": getattr(self.workflow.environment, "mode", None)},
            "timestamp": self.started.strftime(TIMESTAMP_FORMAT),
        }
        if self.unset_names is not None:
            ctx[CONTEXT_KEY] = self.unset_names
        return ctx

    def resolve(self, path: str | Path) -> Path:
        """A path from the workflow, taken relative to the workflow file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def safe_output_path(output_dir: Path, relative: str) -> Path:
    """`relative` inside `output_dir`; anything that would escape it (`..`, an absolute
    path, a symlinked folder, also once a template is filled in) is refused."""
    if not relative.strip() or "\x00" in relative:
        raise UnsafePath(f"output path {relative!r} must be a file name inside the output "
                         f"directory")
    return inside(output_dir, relative)
