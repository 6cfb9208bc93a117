"""Gemini function calling: the requests of one step, and the functions run between them.

A step's first request sends the prompt. When the model's turn ends with function calls
and every function it called has an implementation (`ModelRequest.function_code`), the
functions run, each call's outcome streams as a ToolResult, and the next request sends the
conversation so far: the model's turn as it came (thought signatures included) and one
user turn of functionResponse parts. At most `max_function_rounds` such rounds; a model
still calling after them fails the step. A call of a function with no implementation ends
the step, as in pipeline_ex: the first call's arguments are the step's `output`.

The real provider and the mock both run this loop; only `Conversation` (how a turn is
written: SDK objects or the wire's JSON) and the opening of a request differ, so both emit
the same events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol

from rillet.errors import ProviderError
from rillet.events import Event, ResponseComplete, ToolResult, ToolUse, Usage
from rillet.providers.base import ModelRequest
from rillet.providers.gemini.events import GeminiChunkTranslator, request_events

@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call of a function came to, as Gemini is told it."""

    call: ToolUse
    call_id: str | None  # the id the model gave the call, if any
    response: dict[str, Any]  # {"output": value} or {"error": message}
    result: ToolResult


class Conversation(Protocol):
    """How the turns of one step's conversation are written for its requests."""

    def opening(self, prompt: str) -> list[Any]: ...

    def model_turn(self, parts: list[Any]) -> Any: ...

    def response_turn(self, outcomes: list[Outcome]) -> Any: ...


# (the conversation so far, attempt number) -> the request's chunks
OpenRequest = Callable[[list[Any], int], AsyncIterator[Any]]


async def gemini_events(request: ModelRequest, open_request: OpenRequest,
                        conversation: Conversation, *, retries: int,
                        delay_s: float = 0.0) -> AsyncIterator[Event]:
    """The step's events, ending with one ResponseComplete whose tokens are every
    request's. Usage events carry running totals for the whole step."""
    step = request.step
    code = request.function_code or {}
    declared = {function["name"] for function in request.functions or ()}
    limit = request.max_function_rounds
    model: str | None = None
    contents = conversation.opening(request.prompt)
    spent_in = spent_out = spent_cached = 0
    tools = retried = requests = 0
    while True:
        translator = GeminiChunkTranslator(step, tools_before=tools, retries_before=retried,
                                           keep_parts=bool(code))
        so_far = list(contents)

        def open_attempt(attempt: int, so_far: list[Any] = so_far) -> AsyncIterator[Any]:
            return open_request(so_far, attempt)

        async with aclosing(request_events(translator, open_attempt, retries=retries,
                                           delay_s=delay_s)) as events:
            async for event in events:
                if type(event) is Usage and requests:
                    event = dataclasses.replace(
                        event, input_tokens=event.input_tokens + spent_in,
                        output_tokens=event.output_tokens + spent_out,
                        cache_read_tokens=event.cache_read_tokens + spent_cached)
                yield event
        requests += 1
        spent_in += translator.input_tokens
        spent_out += translator.output_tokens
        spent_cached += translator.cached_tokens
        tools, retried = translator.tools, translator.retries
        model = translator.model or model
        calls = translator.calls
        # A call of a declared function with no implementation ends the step; one of a
        # function nobody declared is answered with an error, as a failing call is.
        if not calls or not code or any(call.name in declared and call.name not in code
                                        for call in calls):
            break
        if requests > limit:
            names = ", ".join(call.name for call in calls)
            raise ProviderError(
                f"step '{step}': the model still calls functions ({names}) after "
                f"{limit} rounds of function calls (max_function_rounds: {limit}); the "
                f"text so far is kept. Raise max_function_rounds, or tell the model in "
                f"the prompt when to stop calling", kind="function_rounds")
        outcomes = []
        async with aclosing(run_calls(calls, translator.call_ids, code)) as running:
            async for outcome in running:
                outcomes.append(outcome)
                yield outcome.result
        contents = [*contents, conversation.model_turn(translator.parts),
                    conversation.response_turn(outcomes)]
    # A call of a function with no implementation is the answer (pipeline_ex's way of
    # asking for structured arguments): its arguments are the step's output.
    output = calls[0].input if calls else None
    yield ResponseComplete(step, model=model, stop_reason=translator.finish_reason,
                           input_tokens=spent_in, output_tokens=spent_out,
                           num_turns=requests, output=output)


async def run_calls(calls: list[ToolUse], call_ids: list[str | None],
                    code: dict[str, Callable[..., Any]]) -> AsyncIterator[Outcome]:
    """Run a turn's calls at the same time (the model made them together); their outcomes
    in the order of the calls, each as soon as it and those before it are done. Leaving
    early cancels the calls still running (a sync function's thread runs on to its end)."""
    tasks = [asyncio.ensure_future(_call(code.get(call.name), call, call_id))
             for call, call_id in zip(calls, call_ids)]
    try:
        for task in tasks:
            yield await task
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _call(function: Callable[..., Any] | None, call: ToolUse,
                call_id: str | None) -> Outcome:
    """Call `function` with the call's arguments as keywords: an async function awaited,
    a sync one in a worker thread. What it raises is the call's error, told to the model
    (the step goes on); what it returns, as JSON, is the call's output."""
    try:
        if function is None:
            raise LookupError(f"no function named '{call.name}' is declared for this step")
        if inspect.iscoroutinefunction(function):
            value = await function(**call.input)
        else:
            value = await asyncio.to_thread(function, **call.input)
        if inspect.isawaitable(value):
            value = await value
        output = json.loads(json.dumps(value, ensure_ascii=False, default=str))
    except Exception as exc:  # noqa: BLE001 - the function's failure is the model's to see
        message = f"{type(exc).__name__}: {exc}"
        return Outcome(call, call_id, {"error": message},
                       ToolResult(call.step, call.tool_use_id, message, is_error=True))
    content = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    return Outcome(call, call_id, {"output": output},
                   ToolResult(call.step, call.tool_use_id, content))


class _NoConversation:
    """For a request whose functions rillet never runs: there is no second request."""

    def opening(self, prompt: str) -> list[Any]:
        return []

    def model_turn(self, parts: list[Any]) -> Any:
        raise AssertionError("a single request has no second turn")

    response_turn = model_turn


def translated_attempts(request: ModelRequest, open_attempt: Callable[[int], AsyncIterator[Any]],
                        *, retries: int, delay_s: float = 0.0) -> AsyncIterator[Event]:
    """One request (functions, if any, not run): the chunks of `open_attempt(n)` as rillet
    events ending with one ResponseComplete, dropped attempts retried as above."""
    single = dataclasses.replace(request, function_code=None)
    return gemini_events(single, lambda contents, attempt: open_attempt(attempt),
                         _NoConversation(), retries=retries, delay_s=delay_s)
