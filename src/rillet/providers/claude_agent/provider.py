"""The Claude Agent SDK provider: Claude Code's CLI as a token stream.

It drives `ClaudeSDKClient` (connect, query, receive_response, interrupt) rather than the
one-shot `query()`, which can neither be interrupted quickly nor be trusted to finish a
long stream for a slow consumer. Closing the stream interrupts the turn and ends the CLI
process within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import tempfile
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from claude_agent_sdk import (
    ClaudeAgentOptions, ClaudeSDKClient, ClaudeSDKError, CLIConnectionError, CLIJSONDecodeError,
    CLINotFoundError, ProcessError, StreamEvent,
)

from rillet.errors import ProviderError, StreamIncompleteError
from rillet.events import Event
from rillet.providers.base import Mode, ModelRequest
from rillet.providers.claude_agent.messages import ClaudeMessageTranslator
from rillet.providers.claude_agent.mock import mock_sdk_messages
from rillet.providers.claude_agent.options import build_options, cli_env

__all__ = ["ClaudeAgentProvider", "ClaudeMessageTranslator", "mock_sdk_messages"]

INTERRUPT_TIMEOUT_S = 0.3  # the CLI acknowledges an interrupt in ~10 ms
EXIT_GRACE_S = 0.3  # after that the CLI exits on its own in ~30 ms; past this, kill it
CONNECT_GRACE_S = 1.0  # a CLI start takes 0.25-0.7 s
STDERR_LINES = 20


@dataclasses.dataclass(eq=False)
class _CLISession:
    """One CLI process: its client, the options it was started with, its stderr tail."""

    options: ClaudeAgentOptions
    client: ClaudeSDKClient
    stderr: deque[str]
    # ToolHook events of the built-in hooks, which the SDK calls from its own task; the
    # stream hands them on before the next message (the hook runs before the CLI sends
    # the tool's result).
    hook_events: deque[Event] = dataclasses.field(default_factory=deque)
    hook_config: Any = None  # the step's claude_options.hooks, as it asked for them
    connecting: asyncio.Task[None] | None = None
    closed: bool = False

    async def connect(self) -> None:
        if self.connecting is None:
            self.connecting = asyncio.ensure_future(self.client.connect())
        # Shielded: a consumer cancelled during start-up must not cancel the connect
        # halfway (the SDK's clean-up after that waits 5 s); closing lets it finish.
        await asyncio.shield(self.connecting)


class ClaudeAgentProvider:
    name = "claude_agent"

    def __init__(self, *, mode: Mode, base_url: str | None = None):
        self.mode = mode
        self.base_url = base_url
        self._home: str | None = None  # sim mode: the CLI's throwaway HOME
        self._warm: dict[str, _CLISession] = {}
        self._open: set[_CLISession] = set()
        self._closing: set[asyncio.Task[None]] = set()

    async def stream(self, request: ModelRequest) -> AsyncIterator[Event]:
        request = self._in_my_mode(request)
        session = await self._take_warm(request) or self._new_session(request)
        translator = ClaudeMessageTranslator(request.step,
                                             structured=request.output_schema is not None)
        self._open.add(session)
        sent = False
        try:
            await session.connect()
            await session.client.query(request.prompt)
            sent = True
            async with contextlib.aclosing(session.client.receive_response()) as messages:
                async for message in messages:
                    while session.hook_events:
                        yield session.hook_events.popleft()
                    if type(message) is StreamEvent:
                        event = translator.stream_event(message)
                        if event is not None:
                            yield event
                    else:
                        for event in translator.translate(message):
                            yield event
                while session.hook_events:
                    yield session.hook_events.popleft()
        except ClaudeSDKError as exc:
            raise sdk_error(request.step, exc, session.stderr) from exc
        finally:
            self._open.discard(session)
            # A turn still running when the consumer stops (aclose, cancellation, a
            # handler error) is interrupted so the upstream request stops too.
            await self._close_shielded(session, interrupt=sent and not translator.finished)
        if translator.final is None:
            raise StreamIncompleteError(f"the Claude CLI for step '{request.step}' stopped "
                                        f"without its final result{_tail(session.stderr)}")

    async def prewarm(self, request: ModelRequest) -> None:
        """Start the CLI for `request`'s step in the background, so that step's stream
        skips the CLI's start-up when its options turn out the same."""
        request = self._in_my_mode(request)
        if request.step in self._warm:
            return
        session = self._new_session(request)
        session.connecting = asyncio.ensure_future(session.client.connect())
        self._warm[request.step] = session

    async def aclose(self) -> None:
        # Warm CLIs never got a prompt; streams still open are mid-turn.
        closing = [self._close(s, interrupt=False) for s in self._warm.values()]
        closing += [self._close(s, interrupt=True) for s in self._open]
        self._warm.clear()
        self._open.clear()
        await asyncio.gather(*closing, return_exceptions=True)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    # -- sessions -------------------------------------------------------------------------

    def _in_my_mode(self, request: ModelRequest) -> ModelRequest:
        if request.mode == self.mode:
            return request
        return dataclasses.replace(request, mode=self.mode)

    def _new_session(self, request: ModelRequest) -> _CLISession:
        tail: deque[str] = deque(maxlen=STDERR_LINES)
        hook_events: deque[Event] = deque()
        options = self._options(request, tail.append, hook_events.append)
        return _CLISession(options, ClaudeSDKClient(options), tail, hook_events,
                           request.options.get("hooks"))

    def _options(self, request: ModelRequest, stderr: Any,
                 hook_sink: Any = None) -> ClaudeAgentOptions:
        home = (request.session_home or self._sim_home()) if self.mode == "sim" else None
        env = cli_env(request, sim_home=home, base_url=self.base_url)
        return build_options(request, env=env, stderr=stderr, hook_sink=hook_sink)

    def _sim_home(self) -> str:
        # The CLI writes ~/.claude.json and its caches under HOME; a sim run must leave
        # the user's own untouched. (Pre-writing ~/.claude.json was measured: it does not
        # make the start any faster, so the CLI creates it itself.)
        if self._home is None:
            self._home = tempfile.mkdtemp(prefix="rillet-claude-home-")
        return self._home

    async def _take_warm(self, request: ModelRequest) -> _CLISession | None:
        session = self._warm.pop(request.step, None)
        if session is None:
            return None
        wanted = self._options(request, None)
        # Hook callbacks are closures, never equal: compare the hooks the step asks for
        # instead (a warm CLI's callbacks report to its own session, the one used here).
        if dataclasses.replace(session.options, stderr=None, hooks=None) == \
                dataclasses.replace(wanted, hooks=None) \
                and session.hook_config == request.options.get("hooks"):
            return session
        self._close_in_background(session, interrupt=False)  # warmed for other options
        return None

    def _close_in_background(self, session: _CLISession, *, interrupt: bool
                             ) -> asyncio.Task[None]:
        # Its own task: a second cancellation of the consumer cannot leave the CLI
        # process half-closed, and aclose() waits for every one still running.
        task = asyncio.ensure_future(self._close(session, interrupt=interrupt))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return task

    async def _close_shielded(self, session: _CLISession, *, interrupt: bool) -> None:
        await asyncio.shield(self._close_in_background(session, interrupt=interrupt))

    async def _close(self, session: _CLISession, *, interrupt: bool) -> None:
        if session.closed:
            return
        session.closed = True
        connecting = session.connecting
        if connecting is not None:
            if not connecting.done():
                # Let a start-up finish (a fraction of a second) rather than cut it off.
                await asyncio.wait({connecting}, timeout=CONNECT_GRACE_S)
            if not connecting.done():
                connecting.cancel()  # a CLI stuck starting up: the kill below ends it
            elif not connecting.cancelled():
                connecting.exception()  # retrieved: a failed warm-up is no news
        await shutdown_cli(session.client, interrupt=interrupt)


async def shutdown_cli(client: ClaudeSDKClient, *, interrupt: bool) -> None:
    """End the CLI process promptly: interrupt the turn, close stdin, and kill the process
    if it has not exited a moment later (the SDK alone would wait 5 s, then 5 more)."""
    process = _cli_process(client)
    if interrupt and process is not None and process.returncode is None:
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            await asyncio.wait_for(client.interrupt(), INTERRUPT_TIMEOUT_S)
    disconnect = asyncio.ensure_future(client.disconnect())
    done, _ = await asyncio.wait({disconnect}, timeout=EXIT_GRACE_S)
    if not done and process is not None:
        for signal_process in (process.terminate, process.kill):
            with contextlib.suppress(ProcessLookupError):
                signal_process()
            done, _ = await asyncio.wait({disconnect}, timeout=EXIT_GRACE_S)
            if done:
                break
    with contextlib.suppress(Exception):
        await disconnect


def _cli_process(client: ClaudeSDKClient) -> Any:
    # The SDK keeps the subprocess on its transport; there is no public handle.
    transport = getattr(client, "_transport", None)
    return getattr(transport, "_process", None)


def sdk_error(step: str, exc: ClaudeSDKError, stderr: deque[str]) -> ProviderError:
    """An SDK exception as a ProviderError that says what happened and what to do."""
    tail = _tail(stderr)
    if isinstance(exc, CLINotFoundError):
        return ProviderError(
            f"the Claude Code CLI was not found for step '{step}' ({exc}); reinstall "
            f"claude-agent-sdk, which bundles it, or install Claude Code so `claude` is on "
            f"PATH", kind="cli_not_found")
    if isinstance(exc, CLIJSONDecodeError):
        return ProviderError(f"the Claude CLI sent output that is not JSON for step "
                             f"'{step}': {exc}", kind="malformed")
    if isinstance(exc, ProcessError):
        code = f" (exit code {exc.exit_code})" if exc.exit_code is not None else ""
        lowered = tail.lower()
        kind = "network" if "econn" in lowered or "connection" in lowered else "api"
        return ProviderError(f"the Claude CLI for step '{step}' exited{code} before its final "
                             f"result{tail}", kind=kind)
    if isinstance(exc, CLIConnectionError):
        return ProviderError(f"could not run the Claude CLI for step '{step}': {exc}{tail}",
                             kind="api")
    return ProviderError(f"the Claude Agent SDK failed for step '{step}': {exc}{tail}",
                         kind="api")


def _tail(stderr: deque[str]) -> str:
    return (": " + " | ".join(stderr)) if stderr else ""
