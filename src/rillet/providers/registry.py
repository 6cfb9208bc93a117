"""Which provider serves a step, and the pool that keeps them for a run.

`ProviderPool` creates one provider per (kind, mode, base URL) the first time a step
needs it, importing its SDK only then (anthropic, google-genai and the Claude Agent SDK
each take 0.5-1 s to import). Every stream it opens is the provider's stream wrapped in
`pricing.priced_stream` (progressive cost), for a step with `output_schema` in
`structured.stream.structured_stream` (partial objects, validation, one repair), with a
retry policy (claude_robust) in `robust.robust_stream` (each attempt one such stream), and,
with telemetry on, `telemetry.traced_stream`; closing it closes the provider's stream.
`warm` starts an SDK's import and client set-up in the background when the run starts.
`aclose()` ends every provider: no CLI process or request outlives the run; the HTTP
providers' SDK clients are shared by every run of the process (`clients`) and closed with
the event loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from rillet.errors import ProviderError, RilletError
from rillet.events import Event
from rillet.providers import clients
from rillet.providers.attempts import failed_stream
from rillet.providers.base import ModelRequest

KINDS = ("claude_agent", "anthropic_api", "gemini")

# Set by `rillet batch` for one item's run: sees each stream the pool opens (to notice
# rate limits across the batch). None everywhere else.
STREAM_OBSERVER: ContextVar[Callable[..., AsyncIterator[Event]] | None] = ContextVar(
    "rillet_stream_observer", default=None)
MODES = ("mock", "sim", "live")

# The environment each SDK reads its credentials from.
_CREDENTIAL_ENV = {
    "claude_agent": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
    "anthropic_api": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}


def has_credentials(kind: str) -> bool:
    """Whether a live run of `kind` could authenticate: its SDK's key in the environment,
    or, for the Claude Agent SDK, a logged-in Claude CLI."""
    _check_kind(kind)
    if any(os.environ.get(name) for name in _CREDENTIAL_ENV[kind]):
        return True
    if kind == "claude_agent":
        return (Path.home() / ".claude" / ".credentials.json").exists()
    return False


class ProviderPool:
    def __init__(self, mock_script: Any = None, telemetry: bool = False):
        self.mock_script = mock_script
        self.telemetry = telemetry
        self._providers: dict[tuple[str, str, str | None], Any] = {}

    def open_stream(self, request: ModelRequest, kind: str) -> AsyncIterator[Event]:
        """The step's event stream: lazy, nothing is sent until it is iterated."""
        if request.retry_policy is not None:
            from rillet.providers.robust import robust_stream

            return robust_stream(self._open_attempt, request, kind, request.retry_policy)
        return self._open_attempt(request, kind)

    def _open_attempt(self, request: ModelRequest, kind: str) -> AsyncIterator[Event]:
        from rillet.providers.pricing import priced_stream
        from rillet.providers.pricing.overrides import default_model

        try:
            provider = self.provider(kind, request.mode, request.base_url)
        except RilletError as exc:  # reported where the events are read, like any failure
            return failed_stream(exc)
        if request.output_schema is not None:
            from rillet.structured.stream import structured_stream

            stream = structured_stream(
                lambda attempt: priced_stream(provider.stream(attempt), attempt,
                                              default_model=default_model(kind)), request)
        else:
            stream = priced_stream(provider.stream(request), request,
                                   default_model=default_model(kind))
        if self.telemetry:
            from rillet.providers.telemetry import traced_stream

            stream = traced_stream(stream, request, kind)
        observer = STREAM_OBSERVER.get()
        return stream if observer is None else observer(stream, request, kind)

    async def prewarm(self, request: ModelRequest, kind: str) -> None:
        """Let the provider get ready for `request` (start the Claude CLI) in the
        background; providers with nothing to warm ignore it."""
        provider = self.provider(kind, request.mode, request.base_url)
        prewarm = getattr(provider, "prewarm", None)
        if prewarm is not None:
            await prewarm(request)

    def warm(self, kind: str, mode: str, base_url: str | None = None) -> None:
        """Start importing `kind`'s SDK and setting up its client in the background, so
        neither falls inside a step's time to first token."""
        if mode == "mock":
            return
        if kind == "claude_agent":  # its CLI is started per step (`prewarm`); the SDK now
            clients.warm(("import", kind), _import_claude_agent, _nothing_to_close)
            return
        self.provider(kind, mode, base_url).warm(base_url)

    def provider(self, kind: str, mode: str, base_url: str | None = None) -> Any:
        """The pool's provider for (kind, mode, base URL), created on first use."""
        _check_kind(kind)
        if mode not in MODES:
            raise ProviderError(f"unknown mode '{mode}' (known: {', '.join(MODES)})",
                                kind="invalid_request")
        key = (kind, mode, None if mode == "mock" else base_url)
        provider = self._providers.get(key)
        if provider is None:
            if mode == "mock" and self.mock_script is None:
                # One script for every kind, so its fault counters are the run's.
                from rillet.sim.script import Script

                self.mock_script = Script.default()
            provider = self._providers[key] = _create(kind, mode, base_url, self.mock_script)
        return provider

    async def aclose(self) -> None:
        providers = list(self._providers.values())
        self._providers.clear()
        results = await asyncio.gather(*(p.aclose() for p in providers),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]


def _create(kind: str, mode: str, base_url: str | None, script: Any) -> Any:
    if mode == "mock":
        from rillet.providers.mock import MockProvider

        return MockProvider(kind, script=script)
    if kind == "claude_agent":
        from rillet.providers.claude_agent import ClaudeAgentProvider

        return ClaudeAgentProvider(mode=mode, base_url=base_url)  # type: ignore[arg-type]
    if kind == "anthropic_api":
        from rillet.providers.anthropic_api import AnthropicAPIProvider

        return AnthropicAPIProvider(mode=mode, base_url=base_url)  # type: ignore[arg-type]
    from rillet.providers.gemini import GeminiProvider

    return GeminiProvider(mode=mode, base_url=base_url)  # type: ignore[arg-type]


def _import_claude_agent() -> Any:
    import rillet.providers.claude_agent.provider as module  # claude_agent_sdk: ~0.7 s

    return module


async def _nothing_to_close(_: Any) -> None:
    return None


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ProviderError(f"unknown provider kind '{kind}' (known: {', '.join(KINDS)})",
                            kind="invalid_request")
