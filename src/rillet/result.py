"""What a step returns once its stream is collected: the model's real text, always."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Union

# name -> result; or a list of iterations (name -> result) or of results (claude_batch).
Children = Union[dict[str, "StepResult"],
                 list[Union[dict[str, "StepResult"], "StepResult", None]], None]


@dataclass
class StepResult:
    step: str
    text: str = ""
    status: str = "completed"  # completed | failed | cancelled | skipped | degraded
    thinking: str = ""
    tool_uses: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    stop_reason: str | None = None
    session_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0  # None: a model with no known price ran (cost unknown)
    num_turns: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    # A step with output_schema: the validated object (the text is its JSON).
    output: Any = None
    # A container's children: name -> result (parallel, switch, pipeline), or one such
    # mapping per iteration (for_loop, while_loop; None for an iteration that never ran).
    children: Children = None

    @property
    def data(self) -> Any:
        """The structured output, else the text parsed as JSON when it is JSON (a fenced
        ```json block counts), else None."""
        if self.output is not None:
            return self.output
        return parse_json_text(self.text)

    @property
    def success(self) -> bool:
        return self.status == "completed"

    def to_dict(self, *, children: bool = True) -> dict[str, Any]:
        document = {
            "step": self.step, "status": self.status, "text": self.text,
            "thinking": self.thinking, "tool_uses": self.tool_uses, "model": self.model,
            "stop_reason": self.stop_reason, "session_id": self.session_id,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd, "num_turns": self.num_turns, "metrics": self.metrics,
            "error": self.error, "variables": self.variables, "output": self.output,
        }
        if children and self.children is not None:
            document["children"] = _children_to_dict(self.children)
        return document

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepResult:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if fields.get("children") is not None:
            fields["children"] = _children_from_dict(fields["children"])
        return cls(**fields)


def _children_to_dict(children: Any) -> Any:
    if isinstance(children, dict):
        return {name: r.to_dict() for name, r in children.items()}
    return [None if it is None else it.to_dict() if isinstance(it, StepResult)
            else _children_to_dict(it) for it in children]


def _children_from_dict(data: Any) -> Any:
    if isinstance(data, dict):
        return {name: StepResult.from_dict(r) for name, r in data.items()}
    return [None if it is None else StepResult.from_dict(it)
            if isinstance(it.get("step"), str) else _children_from_dict(it) for it in data]


def parse_json_text(text: str) -> Any:
    stripped = text.strip()
    if stripped.startswith("```"):
        body = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = body.rsplit("```", 1)[0].strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None
