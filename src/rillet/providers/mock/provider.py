"""The mock provider: each provider kind's stream, in-process, with no network.

It answers from the simulator's script (`Script.reply_for(prompt)`, or the step's own
`mock:` reply) and replays exactly what the simulator would send, through the same code
the real provider of that kind runs:

- `anthropic_api`: the simulator's raw Messages API events go through the real provider's
  attempt loop (`anthropic_api.translated_attempts`): same translator, same retries of a
  dropped stream, same error mapping. HTTP errors play out as the SDK's retries would.
- `gemini`: the simulator's chunks, in the SDK's shape (`gemini.events.wire_chunk`), go
  through the Gemini provider's attempt loop.
- `claude_agent`: the SDK messages the CLI would deliver (`mock_sdk_messages`) go through
  `ClaudeMessageTranslator`, as in the Claude provider. A dropped or malformed stream plays
  out as the CLI does it (recorded with the bundled CLI against the simulator): the CLI
  closes the broken message and retries a dropped one (`api_retry`, the text again), and
  when it gives up it reports a made-up assistant message and an error result.

The reply's timing is honoured (by a timetable that sleeps only when ahead of the clock,
so fast paces are kept; a `fast` reply never sleeps). What differs from a real run: no waiting between retries, and for
`claude_agent` a fault that fires on every request (no `times`) ends the step at once:
the real CLI would retry it ten times over minutes of back-off, to the same end.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import ValidationError

from rillet.errors import ProviderError, StreamIncompleteError
from rillet.events import Event, TextDelta
from rillet.providers.attempts import StreamDropped, failed_stream
from rillet.providers.base import ModelRequest
from rillet.sim.pacing import Schedule
from rillet.sim.requests import turn_reply
from rillet.sim.script import Fault, Reply, Script, validate_reply

KINDS = ("claude_agent", "anthropic_api", "gemini")
CLAUDE_AGENT_MODEL = "claude-sonnet-5-5"  # the model a mock CLI run reports when none is set

# What the Claude CLI says when it gives up on a broken stream (its own words, recorded),
# with what the mock did in the parentheses.
_CLI_DROPPED = ("API Error: Connection to the API was lost (ECONNRESET: the mock dropped the "
                "connection after {after} deltas). This is usually temporary — try again.")
_CLI_MALFORMED = ("API Error: JSON Parse error: Unterminated string (the mock sent a "
                  "malformed event after {after} deltas)")


_MODULES = {
    "claude_agent": ("rillet.providers.claude_agent.messages", "rillet.providers.claude_agent.mock",
                     "rillet.providers.anthropic_api.provider"),
    "anthropic_api": ("rillet.providers.anthropic_api.provider", "rillet.sim.anthropic_stream"),
    "gemini": ("rillet.providers.gemini.provider", "rillet.providers.gemini.events",
               "rillet.sim.gemini_stream"),
}


class MockProvider:
    name = "mock"

    def __init__(self, kind: str, *, script: Script | None = None):
        if kind not in KINDS:
            raise ProviderError(f"unknown provider kind '{kind}' (known: {', '.join(KINDS)})",
                                kind="invalid_request")
        self.kind = kind
        self._script = script
        # Import the translation code now, before any step's clock starts: importing
        # claude_agent_sdk alone takes ~0.7 s, which is not the model's time to first token.
        for module in _MODULES[kind]:
            importlib.import_module(module)

    @property
    def script(self) -> Script:
        if self._script is None:
            self._script = Script.default()
        return self._script

    def reply_for(self, request: ModelRequest) -> Reply:
        """The step's own `mock:` reply when it has one, else the script's."""
        if not request.mock:
            return self.script.reply_for(request.prompt)
        try:
            reply = validate_reply(request.mock)
        except ValidationError as exc:
            raise ProviderError(f"step '{request.step}': the mock reply is not valid: {exc}",
                                kind="invalid_request") from None
        return reply.for_prompt(request.prompt)

    def stream(self, request: ModelRequest) -> AsyncIterator[Event]:
        try:
            reply = self.reply_for(request)
            if request.output_schema is not None:
                from rillet.sim.structured import as_json_text, as_tool_call

                schema = request.output_schema.json_schema
                reply = as_tool_call(reply, schema) if self.kind == "claude_agent" \
                    else as_json_text(reply, schema)
            if request.functions and self.kind == "gemini":
                from rillet.sim.structured import as_function_call

                reply = as_function_call(reply, request.functions)
            if self.kind == "claude_agent":
                return self._claude_agent(request, reply)
            if self.kind == "anthropic_api":
                return self._anthropic_api(request, reply)
            return self._gemini(request, reply)
        except ProviderError as exc:  # reported where the events are read
            return failed_stream(exc)

    async def aclose(self) -> None:
        """Nothing to release: no process, no connection."""

    # -- anthropic_api ----------------------------------------------------------------------

    def _anthropic_api(self, request: ModelRequest, reply: Reply) -> AsyncIterator[Event]:
        from rillet.providers.anthropic_api import provider as api
        from rillet.sim.anthropic_stream import anthropic_error, anthropic_events

        params = api.request_params(request)  # the real provider's checks of the options
        step, model = request.step, params["model"]
        input_tokens = api.prompt_tokens(request)
        reply = turn_reply(reply, False)  # one request: a tool call ends it
        take_fault = self.script.take_fault

        def failed_request(status: int) -> ProviderError:
            _, body, _ = anthropic_error(status)
            return api.status_error(step, status, body["error"]["message"])

        def open_attempt(attempt: int) -> AsyncIterator[dict[str, Any]]:
            fault = _after_sdk_retries(take_fault, reply, api.SDK_MAX_RETRIES + 1,
                                       _anthropic_sdk_retries, failed_request)
            items = anthropic_events(reply, model=model, input_tokens=input_tokens,
                                     fault=fault)
            return _replay(items, lambda item: item, step, api.malformed_error)

        return api.translated_attempts(request, open_attempt, retries=api.STREAM_RETRIES)

    # -- gemini ------------------------------------------------------------------------------

    def _gemini(self, request: ModelRequest, reply: Reply) -> AsyncIterator[Event]:
        from rillet.providers.gemini import provider as gemini
        from rillet.providers.gemini.calls import gemini_events
        from rillet.providers.gemini.events import (
            RETRY_STATUSES, malformed_error, status_error, wire_chunk,
        )
        from rillet.sim.anthropic_stream import within_output_limit
        from rillet.sim.gemini_stream import gemini_chunks, gemini_error, unsigned_function_call
        from rillet.sim.requests import gemini_prompt_tokens, gemini_responses_sent, gemini_turn
        from rillet.sim.script import count_tokens

        gemini.config_params(request)  # the real provider's checks of the options
        step = request.step
        model = request.model or gemini.DEFAULT_MODEL
        system_tokens = count_tokens(request.system_prompt or "")
        # The limit against rillet's estimate (word-ish pieces, as the simulator's
        # countTokens counts them): no tokenizer of Gemini's runs offline.
        too_long = gemini.over_input_limit(request, gemini.prompt_tokens(request),
                                           "estimated by rillet's mock count of word pieces")
        if too_long is not None:
            raise too_long
        max_output = request.options.get("max_output_tokens")
        take_fault = self.script.take_fault

        def failed_request(status: int) -> ProviderError:
            _, body = gemini_error(status)
            retried = status in RETRY_STATUSES
            return status_error(step, status, body["error"]["status"], body["error"]["message"],
                                gemini.SDK_ATTEMPTS if retried else 1)

        def open_request(contents: list[Any], attempt: int) -> AsyncIterator[Any]:
            # What the simulator makes of the same request body.
            body = {"contents": contents}
            unsigned = unsigned_function_call(body)
            if unsigned is not None:
                raise status_error(step, 400, "INVALID_ARGUMENT", unsigned, 1)
            turn = within_output_limit(gemini_turn(reply, gemini_responses_sent(body)),
                                       max_output)
            fault = _after_sdk_retries(take_fault, turn, gemini.SDK_ATTEMPTS,
                                       lambda status: status in RETRY_STATUSES, failed_request)
            items = gemini_chunks(turn, model=model, fault=fault,
                                  prompt_tokens=system_tokens + gemini_prompt_tokens(body))
            return _replay(items, wire_chunk, step, malformed_error)

        return gemini_events(request, open_request, _WireConversation(),
                             retries=gemini.STREAM_RETRIES)

    # -- claude_agent -------------------------------------------------------------------------

    async def _claude_agent(self, request: ModelRequest, reply: Reply) -> AsyncIterator[Event]:
        from claude_agent_sdk import StreamEvent, SystemMessage

        from rillet.providers.anthropic_api.provider import prompt_tokens
        from rillet.providers.claude_agent.messages import ClaudeMessageTranslator
        from rillet.providers.claude_agent.mock import mock_sdk_messages

        step = request.step
        # Resuming keeps the session's id, as the CLI does (a fork gets a new one).
        resumed = request.options.get("resume")
        session_id = resumed if resumed and not request.options.get("fork_session") \
            else str(uuid.uuid4())
        cli = _MockCLI(session_id, prompt_tokens(request), _cli_max_retries(request))
        translator = ClaudeMessageTranslator(step, structured=request.output_schema is not None)
        stream_event, translate = translator.stream_event, translator.translate
        gate = _FaultGate(self.script.take_fault)
        hook_events: list[Event] = []
        tool_hook = _tool_hooks(request, hook_events.append)
        sleep = asyncio.sleep
        pace = Schedule().wait
        resume_turn = 0  # on a retry: the API request sent again (1-based)
        while True:
            # A retry replays the step from the start and delivers from the retried
            # request on: what came before it was delivered already.
            gate.replay(resume_turn)
            messages = mock_sdk_messages(
                reply, step=step, model=request.model or CLAUDE_AGENT_MODEL,
                prompt=request.prompt, session_id=cli.session_id, input_tokens=cli.input_tokens,
                take_fault=gate.decide, max_retries=cli.max_retries, tool_hook=tool_hook)
            turn = 0
            open_blocks: set[int] = set()
            delivering = not resume_turn
            ending: list[object] | None = None
            for delay, message in messages:
                if hook_events:  # the hooks ran before the CLI sends the tool's result
                    for event in hook_events:
                        yield event
                    hook_events.clear()
                kind = type(message)
                if kind is SystemMessage and message.subtype == "status":  # type: ignore
                    turn += 1  # each API request starts with one
                    if not delivering:
                        delivering = turn == resume_turn
                        continue
                if not delivering:
                    continue
                if delay:
                    await pace(delay)
                if kind is StreamEvent:
                    event = stream_event(message)  # type: ignore[arg-type]
                    if type(event) is TextDelta:  # the per-token path
                        yield event
                        continue
                    _track_blocks(message.event, open_blocks)  # type: ignore[union-attr]
                    if event is not None:
                        yield event
                elif kind is not Fault:
                    for event in translate(message):
                        yield event
                elif gate.fired is not None:  # a fault the script fired for this request
                    fault: Fault = message  # type: ignore[assignment]
                    if fault.kind == "stall":
                        await sleep(fault.seconds)
                        continue
                    ending = cli.broken_stream(fault, open_blocks, turn)
                    break
            if ending is None:
                break
            for message in ending:  # the result of a give-up raises the CLI's error
                for event in translate(message):
                    yield event
            if not cli.retrying:
                break
            resume_turn = turn
        if translator.final is None:
            raise StreamIncompleteError(f"the mock Claude CLI for step '{step}' stopped "
                                        f"without its final result")


def _tool_hooks(request: ModelRequest, sink: Callable[[Event], None]
                ) -> Callable[[str, Any], str | None] | None:
    """The step's built-in hooks (claude_options.hooks), run on the mock's tool calls with
    the input the CLI gives them; None when it has none."""
    config = request.options.get("hooks")
    if not config:
        return None
    from rillet.providers.claude_agent.hooks import run_matching

    def run(event: str, block: Any) -> str | None:
        data = {"hook_event_name": event, "tool_name": block.name, "tool_input": block.input,
                "tool_use_id": block.id}
        return run_matching(config, event, data, step=request.step, sink=sink).deny

    return run


class _WireConversation:
    """The turns of a Gemini conversation as the JSON google-genai sends."""

    def opening(self, prompt: str) -> list[Any]:
        return [{"role": "user", "parts": [{"text": prompt}]}]

    def model_turn(self, parts: list[Any]) -> Any:
        return {"role": "model", "parts": [part.wire for part in parts]}

    def response_turn(self, outcomes: list[Any]) -> Any:
        return {"role": "user", "parts": [{"functionResponse": {
            **({"id": o.call_id} if o.call_id else {}), "name": o.call.name,
            "response": o.response}} for o in outcomes]}


class _MockCLI:
    """What the Claude CLI sends after a stream broke mid-way (recorded with the bundled
    CLI against the simulator): it closes the broken message, then either notes a retry
    (`api_retry`) and sends the request again, or gives up with a made-up assistant
    message and an error result. It retries only a drop, and only as often as
    CLAUDE_CODE_MAX_RETRIES allows."""

    def __init__(self, session_id: str, input_tokens: int, max_retries: int):
        self.session_id = session_id
        self.input_tokens = input_tokens
        self.max_retries = max_retries
        self.retries = 0
        self.retrying = False

    def broken_stream(self, fault: Fault, open_blocks: set[int], turn: int) -> list[object]:
        from claude_agent_sdk import AssistantMessage, ResultMessage, SystemMessage
        from claude_agent_sdk.types import TextBlock

        from rillet.providers.claude_agent.messages import SYNTHETIC_MODEL

        closing = [self._raw({"type": "content_block_stop", "index": index})
                   for index in sorted(open_blocks)]
        # A fault with no `times` fires on every request: no retry can get past it.
        self.retrying = (fault.kind == "drop" and "times" in fault.model_fields_set
                         and self.retries < self.max_retries)
        if self.retrying:
            self.retries += 1
            return [*closing, self._raw({"type": "message_stop"}), SystemMessage(
                "api_retry", {"type": "system", "subtype": "api_retry",
                              "attempt": self.retries, "max_retries": self.max_retries,
                              "retry_delay_ms": 0, "error_status": None, "error": "unknown",
                              "session_id": self.session_id, "uuid": _uuid()})]
        dropped = fault.kind == "drop"
        text = (_CLI_DROPPED if dropped else _CLI_MALFORMED).format(after=fault.after_deltas)
        return [
            AssistantMessage([TextBlock(text)], model=SYNTHETIC_MODEL, message_id=_uuid(),
                             session_id=self.session_id, uuid=_uuid(),
                             error="server_error" if dropped else "unknown"),  # type: ignore
            *closing,
            self._raw({"type": "message_delta",
                       "delta": {"stop_reason": None, "stop_sequence": None},
                       "usage": {"input_tokens": self.input_tokens, "output_tokens": 1}}),
            self._raw({"type": "message_stop"}),
            ResultMessage(subtype="success", duration_ms=0, duration_api_ms=0, is_error=True,
                          num_turns=turn, session_id=self.session_id, total_cost_usd=None,
                          result=text, api_error_status=None, stop_reason="stop_sequence",
                          usage={"input_tokens": 0, "output_tokens": 0}, uuid=_uuid()),
        ]

    def _raw(self, event: dict[str, Any]) -> object:
        from claude_agent_sdk import StreamEvent

        return StreamEvent(_uuid(), self.session_id, event)


# --- helpers -----------------------------------------------------------------------------


class _FaultGate:
    """Asks the script, once per simulated API request, whether the reply's fault fires,
    and remembers the answer for the request in flight. In replay (a retry re-running the
    step from the start), the requests before the retried one are not asked again."""

    def __init__(self, take_fault: Callable[[Reply], Fault | None]):
        self._take_fault = take_fault
        self._skip = 0
        self.fired: Fault | None = None  # the mid-stream fault of the request in flight

    def replay(self, resume_turn: int) -> None:
        self._skip = max(resume_turn - 1, 0)

    def decide(self, reply: Reply) -> Fault | None:
        if self._skip:
            self._skip -= 1
            return None
        fault = self._take_fault(reply)
        self.fired = fault if fault is not None and fault.kind != "http_error" else None
        return fault


def _track_blocks(event: dict[str, Any], open_blocks: set[int]) -> None:
    kind = event.get("type")
    if kind == "content_block_start":
        open_blocks.add(event.get("index", 0))
    elif kind == "content_block_stop":
        open_blocks.discard(event.get("index", 0))
    elif kind == "message_start":
        open_blocks.clear()


def _anthropic_sdk_retries(status: int) -> bool:
    # The anthropic SDK's own rule (`_should_retry`): timeouts, conflicts, 429 and 5xx.
    return status in (408, 409, 429) or status >= 500


def _after_sdk_retries(take_fault: Callable[[Reply], Fault | None], reply: Reply,
                       attempts: int, retried: Callable[[int], bool],
                       failed_request: Callable[[int], ProviderError]) -> Fault | None:
    """Plays the SDK's retries of failed requests: asks the script once per request, as
    the simulator does. Returns the mid-stream fault of the request that got through (or
    None); raises the SDK's final error when every attempt failed."""
    for attempt in range(1, attempts + 1):
        fault = take_fault(reply)
        if fault is None or fault.kind != "http_error":
            return fault
        if attempt == attempts or not retried(fault.status):
            raise failed_request(fault.status)
    return None


async def _replay(items: Any, shape: Callable[[dict[str, Any]], Any], step: str,
                  malformed: Callable[[str, str], ProviderError]) -> AsyncIterator[Any]:
    """The simulator's (delay, item) pairs as the SDK would deliver them, with its
    mid-stream faults acted out as the real transport sees them."""
    sleep = asyncio.sleep
    pace = Schedule().wait
    for delay, item in items:
        if delay:
            await pace(delay)
        if type(item) is dict:
            yield shape(item)
        elif item.kind == "stall":
            await sleep(item.seconds)
        elif item.kind == "drop":
            raise StreamDropped(f"the mock dropped the connection after {item.after_deltas} "
                                f"deltas")
        else:
            raise malformed(step, f"the mock sent a malformed event after {item.after_deltas} "
                                  f"deltas")


def _uuid() -> str:
    return str(uuid.uuid4())


def _cli_max_retries(request: ModelRequest) -> int:
    from rillet.providers.claude_agent.mock import CLI_MAX_RETRIES

    value = (request.options.get("env") or {}).get("CLAUDE_CODE_MAX_RETRIES")
    try:
        return CLI_MAX_RETRIES if value is None else max(int(value), 0)
    except (TypeError, ValueError):
        return CLI_MAX_RETRIES
