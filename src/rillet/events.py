"""The one vocabulary every layer speaks.

Providers translate their SDK's objects into these events at the edge; nothing past a
provider imports an SDK type. Events are small frozen dataclasses with slots: they are
created once per token on the hot path, so they carry only what a listener needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """Base class: every event belongs to a step (or, for pipeline events, to no step)."""

    step: str


# --- pipeline level ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PipelineStarted(Event):
    workflow: str
    run_id: str
    steps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PipelineCompleted(Event):
    workflow: str
    run_id: str
    duration_s: float
    cost_usd: float | None  # None: a step ran a model with no known price
    output_dir: str


@dataclass(frozen=True, slots=True)
class PipelineFailed(Event):
    workflow: str
    run_id: str
    error: str
    failed_step: str | None
    cancelled: bool = False


# --- step level (emitted by the executor) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepStarted(Event):
    step_type: str
    provider: str | None = None
    model: str | None = None
    streaming: bool = True


@dataclass(frozen=True, slots=True)
class StepSkipped(Event):
    reason: str


@dataclass(frozen=True, slots=True)
class StepCompleted(Event):
    text: str
    metrics: dict[str, Any] = field(default_factory=dict)
    cost_usd: float | None = 0.0  # None: it ran a model with no known price


@dataclass(frozen=True, slots=True)
class StepFailed(Event):
    error: str
    partial_text: str = ""
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class LoopBatch(Event):
    """A for_loop with `batch_size` starts a batch: iterations `first` to `last`."""

    batch: int  # 1-based
    batches: int
    first: int  # iteration indexes, 0-based, both included
    last: int


@dataclass(frozen=True, slots=True)
class HandlerFailed(Event):
    """A handler raised; it has been detached and the step goes on."""

    handler: str
    error: str


# --- model stream (emitted by providers) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta(Event):
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta(Event):
    text: str


@dataclass(frozen=True, slots=True)
class ToolUse(Event):
    tool_use_id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResult(Event):
    tool_use_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class ToolHook(Event):
    """A built-in hook (claude_options.hooks) ran on a tool call: which one, at which hook
    event, and what it decided (`deny` with its reason, `no_objection`, or None for a hook
    that only records)."""

    hook: str
    hook_event: str  # PreToolUse, PostToolUse
    tool_name: str
    tool_use_id: str
    decision: str | None = None
    reason: str | None = None
    input: dict[str, Any] | None = None  # the tool's input (audit_tool, a denied call)
    at: str | None = None  # ISO time (audit_tool)


@dataclass(frozen=True, slots=True)
class MessageComplete(Event):
    """One model message (one API turn) has ended."""

    stop_reason: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Usage(Event):
    """Running totals for the step so far (not increments)."""

    input_tokens: int
    output_tokens: int
    cost_usd: float | None = None
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True, slots=True)
class StreamRetry(Event):
    """The provider restarted the response: text streamed so far is void and comes again.
    Normally only the message in flight is void; `whole` voids every message of the step
    (a structured reply asked for again, a fallback model answering afresh)."""

    attempt: int
    reason: str
    whole: bool = False


@dataclass(frozen=True, slots=True)
class PartialOutput(Event):
    """A step with `output_schema`: the object its JSON describes so far. `value` is one
    object growing in place across the step's PartialOutput events (strings show as far
    as they have arrived); copy it to keep a snapshot. The validated object is the step
    result's `output`."""

    value: Any


@dataclass(frozen=True, slots=True)
class ResponseComplete(Event):
    """The provider's final word: the stream ended properly. A stream without it failed."""

    model: str | None = None
    stop_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    session_id: str | None = None
    num_turns: int = 1
    duration_ms: int | None = None
    is_error: bool = False
    error: str | None = None
    # A step with output_schema: the object the provider returned (validated before the
    # step's stream ends).
    output: Any = None


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with the event's type name first (for jsonl logs and --json)."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for name in event.__dataclass_fields__:  # type: ignore[attr-defined]
        out[name] = getattr(event, name)
    return out
