"""Where a step runs: its path in the tree and the names its templates can see.

A path is a tuple such as ("review", 3, "summarise"); its label, "review[3].summarise",
goes on every event and result of the step. A scope is made once per node and shares its
parent's dictionaries unless it needs its own (a loop iteration sees its siblings by
name; a nested pipeline has its own steps, inputs and state), so nothing is copied per token.
Step modules read a scope the way they read the run: `template_context()`, `results`,
`resolve()`, `workspace_dir`, `state`, `global_vars`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rillet.engine.context import TIMESTAMP_FORMAT, RunContext
from rillet.result import StepResult
from rillet.workflow.unset_names import CONTEXT_KEY

StepPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Scope:
    run: RunContext
    path: StepPath
    label: str
    results: dict[str, StepResult]  # the steps visible by name here (steps.NAME)
    inputs: dict[str, Any]
    state: dict[str, Any]
    global_vars: dict[str, Any]
    base_dir: Path  # relative files are read from the running workflow file's folder
    loop: dict[str, Any] | None = None  # {{ loop.* }} inside a loop
    pipelines: tuple[str, ...] = ()  # the nested pipeline files above this scope
    workflow_name: str = ""
    # The functions gemini steps here may call: the running workflow's gemini_functions
    # (a nested pipeline's own, not its parent's).
    gemini_functions: dict[str, Any] = field(default_factory=dict)
    _template: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def root(cls, run: RunContext) -> Scope:
        return cls(run, (), "", run.results, run.inputs, run.state, run.global_vars,
                   run.base_dir, workflow_name=run.workflow.name,
                   gemini_functions=dict(getattr(run.workflow, "gemini_functions", {})))

    # -- what step modules read ------------------------------------------------------------

    @property
    def workspace_dir(self) -> Path:
        return self.run.workspace_dir

    @property
    def output_dir(self) -> Path:
        return self.run.output_dir

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def read_policy(self) -> Any:
        return self.run.read_policy  # which prompt files may be read: the run decides

    @property
    def prompt_files(self) -> dict[Path, str]:
        return self.run.prompt_files

    @property
    def depth(self) -> int:
        """How many nested pipelines this scope is inside."""
        return len(self.pipelines)

    def template_context(self) -> dict[str, Any]:
        # Built once per scope and shared by its children; later siblings show up in
        # `results` without a rebuild.
        ctx = self._template
        if not ctx:
            run = self.run
            ctx.update(steps=self.results, global_vars=self.global_vars, inputs=self.inputs,
                       state=self.state,
                       workflow={"name": self.workflow_name, "run_id": run.run_id,
                                 "environment": getattr(run.workflow.environment, "mode", None)},
                       timestamp=run.started.strftime(TIMESTAMP_FORMAT))
            if self.loop is not None:
                ctx["loop"] = self.loop
            if run.unset_names is not None:
                ctx[CONTEXT_KEY] = run.unset_names
        return ctx

    def resolve(self, path: str | Path) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    # -- the scopes below this one ----------------------------------------------------------

    def child(self, name: str) -> Scope:
        """A step of this scope: same names visible, its own path."""
        label = f"{self.label}.{name}" if self.label else name
        return replace(self, path=(*self.path, name), label=label, _template=self._template)

    def block(self) -> Scope:
        """The steps of a switch case: they see each other by name, outside names too."""
        return replace(self, results=dict(self.results), _template={})

    def iteration(self, index: int, loop: dict[str, Any]) -> Scope:
        """One loop iteration: the loop's variables, and its steps see each other by name
        (over the names visible outside the loop)."""
        return replace(self, path=(*self.path, index), label=f"{self.label}[{index}]",
                       results=dict(self.results), loop=loop, _template={})

    def nested(self, *, inputs: dict[str, Any], base_dir: Path, pipeline_file: str,
               workflow_name: str, global_vars: dict[str, Any],
               state: dict[str, Any] | None = None,
               gemini_functions: dict[str, Any] | None = None) -> Scope:
        """A nested pipeline: its own steps, inputs, state and functions; events keep the
        prefix."""
        return replace(self, results={}, inputs=inputs, state=dict(state or {}),
                       global_vars=global_vars,
                       base_dir=base_dir, loop=None, workflow_name=workflow_name,
                       pipelines=(*self.pipelines, pipeline_file),
                       gemini_functions=dict(gemini_functions or {}), _template={})


def loop_variables(iterator: str, item: Any, index: int, total: int,
                   parent: dict[str, Any] | None) -> dict[str, Any]:
    """pipeline_ex's loop variables: loop.<iterator>, loop.item, loop.index (from 0),
    loop.total/length, loop.first/last (and is_first/is_last), loop.level, loop.parent.
    An outer loop's iterator stays visible by its own name unless the inner one reuses it."""
    inherited = {k: v for k, v in (parent or {}).items() if k not in _LOOP_KEYS}
    first, last = index == 0, index == total - 1
    return {**inherited, iterator: item, "item": item, "index": index, "total": total,
            "length": total, "first": first, "last": last, "is_first": first,
            "is_last": last, "level": (parent or {}).get("level", -1) + 1, "parent": parent}


def while_variables(iteration: int, parent: dict[str, Any] | None) -> dict[str, Any]:
    inherited = {k: v for k, v in (parent or {}).items() if k not in _LOOP_KEYS}
    return {**inherited, "iteration": iteration, "count": iteration, "index": iteration,
            "first": iteration == 0, "is_first": iteration == 0,
            "level": (parent or {}).get("level", -1) + 1, "parent": parent}


_LOOP_KEYS = frozenset({"item", "index", "total", "length", "first", "last", "is_first",
                        "is_last", "level", "parent", "iteration", "count"})


_LABEL_PART = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def parse_label(label: str) -> StepPath:
    """"review[3].summarise" -> ("review", 3, "summarise")."""
    return tuple(int(index) if index else name for index, name in _LABEL_PART.findall(label))


def find_result(results: dict[str, StepResult], label: str) -> StepResult:
    """The result at `label` under the top-level `results`; KeyError names what is missing."""
    node: Any = results
    for key in parse_label(label):
        holder = node.children if isinstance(node, StepResult) else node
        try:
            node = holder[key]
        except (KeyError, IndexError, TypeError):
            node = None
        if node is None:
            raise KeyError(f"no result at '{label}' (missing: {key!r})")
    if not isinstance(node, StepResult):
        raise KeyError(f"'{label}' is a loop iteration, not a step; add a step name")
    return node
