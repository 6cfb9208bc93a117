"""Streams for handler tests.

`claude_events` gives the events the Claude Agent provider really emits for a scripted
reply: the CLI's SDK messages for it (`mock_sdk_messages`) through the provider's own
translator. `run_step` drives those events through a real AsyncResponse and the
executor's Fanout with the executor's lifecycle (StepStarted, the events, StepCompleted,
on_complete, drain, close; or StepFailed, on_error, close on a failure).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterable
from typing import Any

from rillet.engine.executor import Fanout
from rillet.errors import ProviderError, StepError
from rillet.events import (
    Event, StepCompleted, StepFailed, StepStarted, StreamRetry, TextDelta,
)
from rillet.providers.claude_agent.messages import ClaudeMessageTranslator
from rillet.providers.claude_agent.mock import mock_sdk_messages
from rillet.result import StepResult
from rillet.sim.script import Reply, Timing
from rillet.streaming.response import AsyncResponse

STEP = "draft"
MODEL = "claude-sonnet-4-5"


def claude_events(step: str = STEP, **reply: Any) -> list[Event]:
    """The provider's events for a reply (text=, thinking=, tool_use={name, input}, …)."""
    translator = ClaudeMessageTranslator(step)
    messages = mock_sdk_messages(Reply(timing=Timing(pattern="fast"), **reply), step=step,
                                 model=MODEL, prompt="p", session_id="sess-1", input_tokens=7)
    return [event for _, message in messages for event in translator.translate(message)]


def retried_events(text: str, void_deltas: int, step: str = STEP) -> list[Event]:
    """An attempt that streams `void_deltas` text deltas and breaks, the provider's
    StreamRetry, then the whole reply again (as the CLI does after an api_retry)."""
    first = claude_events(step, text=text)
    cut, seen = 0, 0
    for cut, event in enumerate(first):
        if type(event) is TextDelta:
            seen += 1
            if seen == void_deltas:
                break
    retry = StreamRetry(step, 1, "the API request failed (529); the CLI retries (attempt 1)")
    return [*first[:cut + 1], retry, *claude_events(step, text=text)]


async def _source(events: Iterable[Event], fail_after: int | None) -> AsyncIterator[Event]:
    for index, event in enumerate(events):
        if fail_after is not None and index == fail_after:
            raise ProviderError("connection reset by peer (test)", kind="network")
        yield event
        await asyncio.sleep(0)  # a provider awaits the network between chunks


async def run_step(listeners: list[Any], events: Iterable[Event], *, step: str = STEP,
                   fail_after: int | None = None) -> tuple[StepResult, list[str]]:
    """(the step's result or partial result, the executor's warnings)."""
    warnings: list[str] = []
    fan = Fanout(step, list(listeners), warnings)
    response = AsyncResponse(step, _source(events, fail_after),
                             metadata={"model": MODEL, "provider": "claude_agent"})
    fan.emit(StepStarted(step, "claude", "claude_agent", MODEL, True))
    try:
        async for event in response:
            fan.emit(event)
        result = response.result()
    except Exception as exc:  # noqa: BLE001 - the executor's failure path
        await response.aclose()
        message = str(exc)
        partial = response.partial_result(status="failed", error=message)
        fan.emit(StepFailed(step, message, partial.text))
        fan.call_all("on_error", StepError(step, message, partial_text=partial.text), partial)
        fan.call_all("close")
        return partial, warnings
    fan.emit(StepCompleted(step, result.text, result.metrics, result.cost_usd))
    fan.call_all("on_complete", result)
    await fan.drain()
    fan.call_all("close")
    return result, warnings


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True
