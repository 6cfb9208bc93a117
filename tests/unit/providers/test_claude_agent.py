"""ClaudeAgentProvider's own logic, with a stand-in for ClaudeSDKClient (no CLI started):
closing, interrupting, killing, warm starts, and how SDK failures are reported.
The real CLI is exercised in tests/integration/test_claude_agent_sdk.py."""

from __future__ import annotations

import asyncio
import os
from collections import deque
from pathlib import Path
from time import perf_counter
from typing import Any

import pytest
from claude_agent_sdk import (
    CLIConnectionError, CLIJSONDecodeError, CLINotFoundError, ProcessError, ResultMessage,
    StreamEvent, SystemMessage,
)

from rillet.errors import ProviderError, StreamIncompleteError
from rillet.events import ResponseComplete, TextDelta
from rillet.providers.claude_agent import provider as claude_agent
from rillet.providers.base import ModelRequest
from rillet.providers.claude_agent.provider import ClaudeAgentProvider, sdk_error


def delta(piece: str) -> StreamEvent:
    return StreamEvent("u", "s1", {"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": piece}})


RESULT = ResultMessage(subtype="success", duration_ms=10, duration_api_ms=5, is_error=False,
                       num_turns=1, session_id="s1", stop_reason="end_turn",
                       total_cost_usd=0.001, usage={"input_tokens": 3, "output_tokens": 2})
INIT = SystemMessage("init", {"session_id": "s1", "model": "claude-sonnet-4-5"})


class FakeProcess:
    def __init__(self) -> None:
        self.returncode: int | None = None
        self.exited = asyncio.Event()
        self.signals: list[str] = []

    def terminate(self) -> None:
        self.signals.append("terminate")
        self.returncode = -15
        self.exited.set()

    def kill(self) -> None:
        self.signals.append("kill")
        self.returncode = -9
        self.exited.set()


class FakeTransport:
    def __init__(self) -> None:
        self._process = FakeProcess()


class FakeClient:
    """Plays `script`: messages, an Exception to raise, or "wait" (block until
    disconnected)."""

    created: list[FakeClient] = []
    script: list[Any] = []
    connect_error: Exception | None = None
    connect_gate: asyncio.Event | None = None  # connect() waits for it when set
    exits_on_stdin_close = True

    def __init__(self, options: Any) -> None:
        self.options = options
        self.calls: list[str] = []
        self._transport: FakeTransport | None = None
        self.process = FakeProcess()
        self.disconnected = asyncio.Event()
        FakeClient.created.append(self)

    async def connect(self) -> None:
        self.calls.append("connect")
        await asyncio.sleep(0)
        if FakeClient.connect_gate is not None:
            await FakeClient.connect_gate.wait()
        if FakeClient.connect_error:
            raise FakeClient.connect_error
        self._transport = FakeTransport()
        self.process = self._transport._process

    async def query(self, prompt: str) -> None:
        self.calls.append(f"query:{prompt}")

    async def receive_response(self):
        for item in FakeClient.script:
            if item == "wait":  # until disconnected, when the SDK's stream just ends
                await self.disconnected.wait()
                return
            if isinstance(item, Exception):
                if self.options.stderr:
                    self.options.stderr("boom: the last words")
                raise item
            yield item

    async def interrupt(self) -> None:
        self.calls.append("interrupt")

    async def disconnect(self) -> None:
        self.calls.append("disconnect")
        self.disconnected.set()
        if FakeClient.exits_on_stdin_close:
            self.process.returncode = 0
        else:
            await self.process.exited.wait()  # only a signal ends it
        self._transport = None


@pytest.fixture(autouse=True)
def fake_client(monkeypatch):
    FakeClient.created = []
    FakeClient.script = [INIT, delta("Hi"), delta("!"), RESULT]
    FakeClient.connect_error = None
    FakeClient.connect_gate = None
    FakeClient.exits_on_stdin_close = True
    monkeypatch.setattr(claude_agent, "ClaudeSDKClient", FakeClient)
    return FakeClient


def request(step: str = "s", **options: Any) -> ModelRequest:
    return ModelRequest(step=step, prompt="hello", options=options, mode="sim",
                        base_url="http://127.0.0.1:1")


async def collect(provider: ClaudeAgentProvider, req: ModelRequest) -> list[Any]:
    return [event async for event in provider.stream(req)]


async def test_stream_yields_deltas_and_the_final_result_then_disconnects():
    provider = ClaudeAgentProvider(mode="sim")
    events = await collect(provider, request())
    assert [e.text for e in events if type(e) is TextDelta] == ["Hi", "!"]
    assert type(events[-1]) is ResponseComplete and events[-1].cost_usd == 0.001
    client = FakeClient.created[0]
    assert client.calls == ["connect", "query:hello", "disconnect"]  # no interrupt: it ended
    await provider.aclose()


async def test_stream_without_a_result_is_incomplete_not_short():
    FakeClient.script = [INIT, delta("Hi")]
    provider = ClaudeAgentProvider(mode="sim")
    with pytest.raises(StreamIncompleteError, match="step 's'.*without its final result"):
        await collect(provider, request())
    await provider.aclose()


async def test_closing_mid_stream_interrupts_the_turn_and_ends_the_cli():
    FakeClient.script = [INIT, delta("Hi"), "wait"]
    provider = ClaudeAgentProvider(mode="sim")
    stream = provider.stream(request())
    assert type(await stream.__anext__()) is TextDelta
    await stream.aclose()
    client = FakeClient.created[0]
    assert client.calls == ["connect", "query:hello", "interrupt", "disconnect"]
    await provider.aclose()


async def test_cancelling_the_consumer_interrupts_and_disconnects():
    FakeClient.script = [INIT, delta("Hi"), "wait"]
    provider = ClaudeAgentProvider(mode="sim")
    seen = asyncio.Event()

    async def consume() -> None:
        async for _ in provider.stream(request()):
            seen.set()

    task = asyncio.create_task(consume())
    await seen.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert FakeClient.created[0].calls[-2:] == ["interrupt", "disconnect"]
    await provider.aclose()


async def test_a_cli_that_does_not_exit_is_killed_within_a_second():
    FakeClient.script = [INIT, delta("Hi"), "wait"]
    FakeClient.exits_on_stdin_close = False
    provider = ClaudeAgentProvider(mode="sim")
    stream = provider.stream(request())
    await stream.__anext__()
    started = perf_counter()
    await stream.aclose()
    assert perf_counter() - started < 1.0
    assert FakeClient.created[0].process.signals == ["terminate"]
    await provider.aclose()


async def test_cli_not_found_says_what_to_do():
    FakeClient.connect_error = CLINotFoundError("Claude Code not found")
    provider = ClaudeAgentProvider(mode="sim")
    with pytest.raises(ProviderError) as info:
        await collect(provider, request("draft"))
    assert info.value.kind == "cli_not_found"
    assert "'draft'" in str(info.value) and "reinstall claude-agent-sdk" in str(info.value)
    await provider.aclose()


async def test_a_dead_cli_is_reported_with_its_stderr_tail():
    FakeClient.script = [INIT, delta("Hi"), ProcessError("failed", exit_code=-9)]
    provider = ClaudeAgentProvider(mode="sim")
    with pytest.raises(ProviderError) as info:
        await collect(provider, request("draft"))
    assert info.value.kind == "api"
    assert "exit code -9" in str(info.value) and "boom: the last words" in str(info.value)
    await provider.aclose()


@pytest.mark.parametrize(("exc", "kind"), [
    (CLIJSONDecodeError("{oops", ValueError("x")), "malformed"),
    (CLIConnectionError("Working directory does not exist: /nope"), "api"),
    (ProcessError("failed", exit_code=1), "api"),
])
def test_sdk_errors_name_the_step(exc, kind):
    error = sdk_error("draft", exc, deque())
    assert error.kind == kind and "'draft'" in str(error)


def test_process_error_mentioning_the_connection_is_a_network_error():
    error = sdk_error("draft", ProcessError("failed", exit_code=1),
                      deque(["connect ECONNREFUSED 127.0.0.1:1"]))
    assert error.kind == "network" and "ECONNREFUSED" in str(error)


async def test_prewarmed_cli_is_adopted_by_the_same_step():
    provider = ClaudeAgentProvider(mode="sim")
    await provider.prewarm(request("next", max_turns=2))
    events = await collect(provider, request("next", max_turns=2))
    assert type(events[-1]) is ResponseComplete
    assert len(FakeClient.created) == 1
    assert FakeClient.created[0].calls == ["connect", "query:hello", "disconnect"]
    await provider.aclose()


async def test_prewarmed_cli_with_other_options_is_closed_and_a_cold_one_started():
    provider = ClaudeAgentProvider(mode="sim")
    await provider.prewarm(request("next", max_turns=2))
    await collect(provider, request("next", max_turns=5))
    warm, cold = FakeClient.created
    assert warm.calls == ["connect", "disconnect"]
    assert cold.options.max_turns == 5 and "query:hello" in cold.calls
    await provider.aclose()


HOOKS = {"PreToolUse": [{"matcher": "Bash", "hooks": ["validate_bash"]}]}


async def test_a_prewarmed_cli_with_the_same_hooks_is_adopted_and_other_hooks_are_not():
    provider = ClaudeAgentProvider(mode="sim")
    await provider.prewarm(request("next", hooks=HOOKS))
    await collect(provider, request("next", hooks=HOOKS))
    assert len(FakeClient.created) == 1
    await provider.prewarm(request("again", hooks=HOOKS))
    other = {"PreToolUse": [{"hooks": ["audit_tool"]}]}
    await collect(provider, request("again", hooks=other))
    assert len(FakeClient.created) == 3 and FakeClient.created[1].calls == ["connect",
                                                                            "disconnect"]
    await provider.aclose()


async def test_aclose_ends_unused_warm_clis_and_removes_the_sim_home():
    provider = ClaudeAgentProvider(mode="sim")
    await provider.prewarm(request("later"))
    home = Path(FakeClient.created[0].options.env["HOME"])
    assert home.is_dir()
    await provider.aclose()
    assert FakeClient.created[0].calls == ["connect", "disconnect"]
    assert not home.exists()


async def test_live_mode_leaves_home_alone():
    provider = ClaudeAgentProvider(mode="live")
    await collect(provider, request())
    assert "HOME" not in FakeClient.created[0].options.env
    assert FakeClient.created[0].options.env.get("ANTHROPIC_BASE_URL") is None
    await provider.aclose()


async def test_request_mode_follows_the_provider():
    provider = ClaudeAgentProvider(mode="sim", base_url="http://127.0.0.1:2")
    req = ModelRequest(step="s", prompt="hello", mode="live")
    await collect(provider, req)
    assert FakeClient.created[0].options.env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:2"
    await provider.aclose()
    assert os.environ.get("HOME") != FakeClient.created[0].options.env["HOME"]


async def test_cancel_during_start_up_lets_the_connect_finish_then_ends_the_cli():
    FakeClient.connect_gate = asyncio.Event()
    provider = ClaudeAgentProvider(mode="sim")
    task = asyncio.create_task(collect(provider, request()))
    while not FakeClient.created or not FakeClient.created[0].calls:
        await asyncio.sleep(0)
    task.cancel()
    FakeClient.connect_gate.set()  # the start-up completes after the cancellation
    with pytest.raises(asyncio.CancelledError):
        await task
    await provider.aclose()
    # Never prompted, so nothing to interrupt; but the CLI is ended, not left running.
    assert FakeClient.created[0].calls == ["connect", "disconnect"]


async def test_a_failed_warm_start_is_reported_by_the_stream_that_adopts_it():
    FakeClient.connect_error = CLINotFoundError("Claude Code not found")
    provider = ClaudeAgentProvider(mode="sim")
    await provider.prewarm(request("next"))
    with pytest.raises(ProviderError) as info:
        await collect(provider, request("next"))
    assert info.value.kind == "cli_not_found" and len(FakeClient.created) == 1
    await provider.aclose()


async def test_aclose_interrupts_streams_still_running():
    FakeClient.script = [INIT, delta("Hi"), "wait"]
    provider = ClaudeAgentProvider(mode="sim")
    stream = provider.stream(request())
    await stream.__anext__()
    await provider.aclose()
    assert FakeClient.created[0].calls[-2:] == ["interrupt", "disconnect"]
    with pytest.raises(StreamIncompleteError):
        await stream.__anext__()  # the consumer learns the stream did not finish
