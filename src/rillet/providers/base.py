"""The provider contract: a request in, an async iterator of events out.

A provider's `stream()` is an async generator. It yields model-stream events
(TextDelta, ThinkingDelta, ToolUse, ToolResult, Usage, MessageComplete, StreamRetry)
and ends with exactly one ResponseComplete. It raises ProviderError on failure.
Closing the generator (aclose, or cancelling the task that iterates it) must stop the
upstream request and any subprocess promptly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from rillet.errors import ProviderError
from rillet.events import Event

Mode = Literal["mock", "sim", "live"]


@dataclass
class ModelRequest:
    step: str
    prompt: str
    model: str | None = None
    system_prompt: str | None = None
    # Provider-specific options, already validated by the workflow schema
    # (for Claude: the claude_options model dumped with exclude_unset).
    options: dict[str, Any] = field(default_factory=dict)
    mode: Mode = "mock"
    # Where the SDK should send its requests (the simulator in sim mode); None = SDK default.
    base_url: str | None = None
    workspace_dir: str | None = None
    # Mock mode only: the scripted response settings (timing pattern, faults, text).
    mock: dict[str, Any] = field(default_factory=dict)
    # A step with output_schema: its rillet.structured.schema.OutputSchema. Providers ask
    # for the object through their own mechanism, with `.json_schema`.
    output_schema: Any = None
    # claude_robust: its rillet.providers.robust.RetryPolicy (attempts, backoff, fallbacks).
    retry_policy: Any = None
    # Set by the retry policy when the answer is a fallback_action's rather than the
    # step's own (simplified_prompt): why. The step is then recorded as degraded.
    degraded: str | None = None
    # A named session (claude_session, claude_continue) in sim mode: the folder the Claude
    # CLI keeps its transcripts in (its HOME), so a later step or run can resume them.
    session_home: str | None = None
    # Gemini function calling: [{name, description, parameters}] the model may call; the
    # Python callables of those that have an implementation, by name; and how many rounds
    # of calls (functions run, results sent back) a step may take.
    functions: list[dict[str, Any]] | None = None
    function_code: dict[str, Callable[..., Any]] | None = None
    max_function_rounds: int = 5


@runtime_checkable
class Provider(Protocol):
    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[Event]: ...

    async def aclose(self) -> None: ...


def refuse_unknown_options(request: ModelRequest, known: frozenset[str], provider: str,
                           takes: str = "it takes") -> None:
    """A provider takes only the options it maps; anything else is the step's mistake."""
    unknown = sorted(set(request.options) - known)
    if unknown:
        raise ProviderError(
            f"step '{request.step}': option '{unknown[0]}' is not one the {provider} provider "
            f"knows ({takes}: {', '.join(sorted(known))})", kind="invalid_request")
