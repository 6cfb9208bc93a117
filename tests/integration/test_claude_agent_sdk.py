"""The Claude Agent SDK provider end to end: the real SDK and its bundled CLI against the
in-process simulator. Each test starts the CLI (~0.3 s) and streams a short reply.

Pids of CLI processes are read from /proc (children of this test process whose command
line names the bundled `claude`), so "the process is gone" is checked for real.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from time import perf_counter
from typing import Any

import pytest
from pydantic import PrivateAttr

from rillet.errors import ProviderError, StepError
from rillet.events import (
    ResponseComplete, StreamRetry, TextDelta, ThinkingDelta, ToolResult, ToolUse,
)
from rillet.providers.base import ModelRequest
from rillet.providers.claude_agent import ClaudeAgentProvider
from rillet.providers.claude_agent.messages import ClaudeMessageTranslator
from rillet.providers.claude_agent.mock import mock_sdk_messages
from rillet.sim.script import Script, count_tokens
from rillet.streaming.response import AsyncResponse

pytestmark = pytest.mark.sdk

MODEL = "claude-sonnet-4-5"
STORY = ("The river kept its own time, slow in the mornings and quick after rain, and the "
         "village learned to read it the way other places read clocks.")
TOOL_TEXT = "The command printed rillet-tool-ran, so the tool works."


class FaultsOnce(Script):
    """Mid-stream faults fire on the first matching request only. (The simulator fires
    them on every request; the CLI retries a dropped stream, so it would never succeed.)"""

    _fired: set[Any] = PrivateAttr(default_factory=set)

    def take_fault(self, reply: Any) -> Any:
        fault = super().take_fault(reply)
        if fault is None or fault.kind == "http_error":
            return fault
        if reply._fault_key in self._fired:
            return None
        self._fired.add(reply._fault_key)
        return fault


def script() -> Script:
    paced = {"first_token_delay_s": 0.05, "tokens_per_second": 200, "chunk_tokens": 2,
             "jitter": 0}
    return FaultsOnce.model_validate({"rules": [
        {"match": "tell the river story", "text": STORY, "timing": paced},
        {"match": "overloaded once", "text": STORY, "timing": {"pattern": "fast"},
         "fault": {"kind": "http_error", "status": 529, "times": 1}},
        {"match": "always overloaded", "text": STORY, "timing": {"pattern": "fast"},
         "fault": {"kind": "http_error", "status": 529, "times": 50}},
        {"match": "unauthorised", "text": STORY, "timing": {"pattern": "fast"},
         "fault": {"kind": "http_error", "status": 401, "times": 50}},
        {"match": "drop midway", "text": STORY, "timing": paced,
         "fault": {"kind": "drop", "after_deltas": 5}},
        {"match": "slow story", "text": STORY * 4,
         "timing": {"first_token_delay_s": 0.05, "tokens_per_second": 20, "chunk_tokens": 1}},
        {"match": "think first", "thinking": "Weigh both options, then pick one.",
         "text": STORY, "timing": {"pattern": "fast"}},
        {"match": "run the tool", "text": TOOL_TEXT, "timing": {"pattern": "fast"},
         "tool_use": {"name": "Bash", "input": {"command": "echo rillet-tool-ran"}}},
    ]})


@pytest.fixture
async def sim(sim_factory):
    return await sim_factory(script())


@pytest.fixture
async def provider(sim) -> AsyncIterator[ClaudeAgentProvider]:
    provider = ClaudeAgentProvider(mode="sim", base_url=sim.base_url)
    yield provider
    await provider.aclose()


def request(prompt: str, tmp_path: Path, step: str = "story", **options: Any) -> ModelRequest:
    return ModelRequest(step=step, prompt=prompt, model=MODEL, options=options, mode="sim",
                        workspace_dir=str(tmp_path))


def cli_pids() -> set[int]:
    """Live CLI processes started by this test process."""
    me, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read()
        except OSError:
            continue
        if int(fields[1]) == me and fields[0] != "Z" and b"claude" in command:
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


async def until(condition, timeout: float) -> float:
    """Seconds until `condition()` held; fails after `timeout`."""
    started = perf_counter()
    while not condition():
        if perf_counter() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.01)
    return perf_counter() - started


def price(input_tokens: int, output_tokens: int) -> float:
    try:
        from rillet.providers.pricing import price_usd
    except ImportError:  # no price table yet: the CLI's own Sonnet 4.5 rate, $3 / $15 per MTok
        return (input_tokens * 3 + output_tokens * 15) / 1e6
    return price_usd(MODEL, input_tokens, output_tokens)


async def test_text_arrives_token_by_token_and_matches_the_script(provider, tmp_path):
    response = AsyncResponse("story", provider.stream(request("tell the river story",
                                                              tmp_path)))
    arrivals = []
    async for event in response:
        if type(event) is TextDelta:
            arrivals.append(perf_counter())
    result = response.result()
    assert result.text == STORY
    assert len(arrivals) == (count_tokens(STORY) + 1) // 2  # two tokens per delta
    # Paced at 10 ms a delta by the simulator: they must arrive spread out, not in a burst.
    assert arrivals[-1] - arrivals[0] > 0.5 * 0.01 * (len(arrivals) - 1)
    gaps = sorted(b - a for a, b in zip(arrivals, arrivals[1:]))
    assert gaps[len(gaps) // 2] > 0.002  # a burst has gaps of microseconds; load narrows some
    assert result.output_tokens == count_tokens(STORY)
    assert result.cost_usd > 0
    assert result.cost_usd == pytest.approx(price(result.input_tokens, result.output_tokens))
    assert result.model == MODEL and result.session_id


async def test_overloaded_once_is_retried_by_the_cli_and_the_step_succeeds(provider, sim,
                                                                             tmp_path):
    events = [e async for e in provider.stream(request("overloaded once", tmp_path))]
    assert "".join(e.text for e in events if type(e) is TextDelta) == STORY
    assert not any(type(e) is StreamRetry for e in events)  # nothing had streamed yet
    assert type(events[-1]) is ResponseComplete
    assert len([r for r in sim.requests if r.path == "/v1/messages"]) == 2


async def test_dropped_stream_is_retried_and_the_text_appears_once(provider, tmp_path):
    response = AsyncResponse("story", provider.stream(request("drop midway", tmp_path)))
    events = [e async for e in response]
    assert sum(type(e) is StreamRetry for e in events) == 1
    assert response.result().text == STORY
    assert response.metrics.retries == 1


async def test_cancelling_mid_stream_ends_the_cli_within_a_second(provider, sim, tmp_path):
    deltas = asyncio.Event()
    seen = 0

    async def consume() -> None:
        nonlocal seen
        async for event in provider.stream(request("slow story", tmp_path)):
            if type(event) is TextDelta:
                seen += 1
                if seen == 3:
                    deltas.set()

    task = asyncio.create_task(consume())
    await deltas.wait()
    (pid,) = cli_pids()
    started = perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: not alive(pid), timeout=1.0 - (perf_counter() - started))
    # The simulator's stream handler ended: the CLI closed its connection.
    await until(lambda: not sim._handlers, timeout=1.0)
    assert perf_counter() - started < 1.0
    assert seen < 10


async def test_a_cli_killed_mid_stream_is_an_error_with_the_partial_text(provider, tmp_path):
    response = AsyncResponse("story", provider.stream(request("slow story", tmp_path)))
    seen = 0
    with pytest.raises(ProviderError) as info:
        async for event in response:
            if type(event) is TextDelta:
                seen += 1
                if seen == 2:
                    (pid,) = cli_pids()
                    os.kill(pid, signal.SIGKILL)
    assert "before its final result" in str(info.value) and "'story'" in str(info.value)
    assert STORY.startswith(response.text) and response.text
    with pytest.raises(StepError) as step_error:
        response.result()
    assert step_error.value.partial_text == response.text


async def test_tool_round_runs_the_tool_and_reports_use_and_result(provider, tmp_path):
    req = request("run the tool", tmp_path, step="tool", allowed_tools=["Bash"])
    response = AsyncResponse("tool", provider.stream(req))
    events = [e async for e in response]
    assert [e for e in events if type(e) is ToolUse][0].input == {
        "command": "echo rillet-tool-ran"}
    (result,) = [e for e in events if type(e) is ToolResult]
    assert result.content.strip() == "rillet-tool-ran" and not result.is_error
    step = response.result()
    assert step.text == TOOL_TEXT and step.num_turns == 2
    assert step.tool_uses[0]["result"].strip() == "rillet-tool-ran"


async def test_persistent_overload_is_reported_as_overloaded(provider, tmp_path):
    req = request("always overloaded", tmp_path, env={"CLAUDE_CODE_MAX_RETRIES": "1"})
    with pytest.raises(ProviderError) as info:
        [e async for e in provider.stream(req)]
    assert info.value.kind == "overloaded" and "try again later" in str(info.value)


async def test_rejected_key_is_reported_as_an_auth_error(provider, tmp_path):
    req = request("unauthorised", tmp_path, env={"CLAUDE_CODE_MAX_RETRIES": "0"})
    with pytest.raises(ProviderError) as info:
        [e async for e in provider.stream(req)]
    assert info.value.kind == "auth" and "claude auth login" in str(info.value)


async def test_prewarmed_cli_is_the_one_that_streams(provider, tmp_path):
    req = request("tell the river story", tmp_path)
    await provider.prewarm(req)
    await until(lambda: len(cli_pids()) == 1, timeout=5.0)
    (warm,) = cli_pids()
    seen: set[int] = set()
    async for event in provider.stream(req):
        if type(event) is TextDelta:
            seen |= cli_pids()
    assert seen == {warm}


async def test_unused_prewarmed_cli_is_ended_by_aclose(provider, tmp_path):
    await provider.prewarm(request("tell the river story", tmp_path, step="later"))
    await until(lambda: len(cli_pids()) == 1, timeout=5.0)
    (warm,) = cli_pids()
    await provider.aclose()
    assert not alive(warm)


async def events_from_mock(sim_script: Script, prompt: str) -> list[Any]:
    reply = sim_script.reply_for(prompt)
    translator = ClaudeMessageTranslator("eq")
    events = []
    for _, message in mock_sdk_messages(reply, step="eq", model=MODEL, prompt=prompt,
                                        session_id="mock", input_tokens=10):
        events.extend(translator.translate(message))
    return events


@pytest.mark.parametrize(("prompt", "options"), [
    ("think first", {}),
    ("run the tool", {"allowed_tools": ["Bash"]}),
])
async def test_mock_messages_give_the_events_the_real_cli_gives(provider, sim, tmp_path,
                                                                prompt, options):
    real = [e async for e in provider.stream(request(prompt, tmp_path, step="eq", **options))]
    mock = await events_from_mock(sim.script, prompt)
    assert [type(e).__name__ for e in real] == [type(e).__name__ for e in mock]
    for kind in (TextDelta, ThinkingDelta):
        assert ("".join(e.text for e in real if type(e) is kind)
                == "".join(e.text for e in mock if type(e) is kind))
    assert [(e.name, e.input) for e in real if type(e) is ToolUse] == [
        (e.name, e.input) for e in mock if type(e) is ToolUse]
