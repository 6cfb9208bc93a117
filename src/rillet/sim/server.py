"""A local server that speaks the Anthropic Messages API and Gemini's generateContent,
answering from a `Script`, so the real SDKs (and the Claude Code CLI) run unchanged
against it. Every event is written the moment it is due; faults break the stream the way
a real network or API would.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from aiohttp import web

from rillet.local_http import start_site
from rillet.sim.anthropic_stream import (
    anthropic_error, anthropic_events, anthropic_message, within_output_limit,
)
from rillet.sim.gemini_stream import (
    gemini_chunks, gemini_error, gemini_response, unsigned_function_call,
)
from rillet.sim.pacing import Schedule
from rillet.sim.requests import (
    anthropic_input_tokens, anthropic_prompt, gemini_prompt, gemini_prompt_tokens,
    gemini_responses_sent, gemini_turn, turn_reply)
from rillet.sim.script import Fault, Script
from rillet.sim.structured import (
    anthropic_schema, as_function_call, as_json_text, as_tool_call, gemini_functions,
    gemini_schema,
)

# Compact JSON like the real APIs; non-ASCII text goes out as UTF-8, not \u escapes.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass
class RecordedRequest:
    """One request the simulator received (tests look at these)."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    method: str = "POST"
    query: dict[str, str] = field(default_factory=dict)
    received: float = 0.0  # perf_counter() when it arrived (the same clock in every process)


class Simulator:
    """The simulator in the current event loop: `async with Simulator(script) as sim:`."""

    def __init__(self, script: Script | None = None, *, host: str = "127.0.0.1",
                 port: int = 0):
        self.script = script if script is not None else Script.default()
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the simulator is not running: call start() first")
        # A wildcard listen address is not one a client can connect to.
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        # google-genai picks the API version (v1beta, or v1 when given a base URL).
        for version in ("v1beta", "v1", "v1alpha"):
            app.router.add_post(f"/{version}/models/{{call}}", self._gemini)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        # A client that goes away ends its stream (and any stall).
        self._runner, self.port = await start_site(app, self.host, self.port)

    async def stop(self) -> None:
        """Stop serving; open streams (stalled ones too) end at once."""
        if self._runner is None:
            return
        for task in list(self._handlers):
            task.cancel()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- routes -------------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if body is None:
            return _anthropic_failure(400, "the request body is not a JSON object")
        prompt, after_tool = anthropic_prompt(body)
        reply = self.script.reply_for(prompt)
        schema, as_tool = anthropic_schema(body)
        if schema is not None:
            reply = as_tool_call(reply, schema) if as_tool else as_json_text(reply, schema)
        reply = turn_reply(reply, after_tool)
        fault = self.script.take_fault(reply)
        if fault is not None and fault.kind == "http_error":
            status, error, headers = anthropic_error(fault.status)
            return web.json_response(error, status=status, headers=headers)
        model = str(body.get("model") or "claude-sim")
        input_tokens = anthropic_input_tokens(body)
        if not body.get("stream"):
            return await self._whole(request, fault, lambda: anthropic_message(
                reply, model=model, input_tokens=input_tokens))
        events = anthropic_events(reply, model=model, input_tokens=input_tokens, fault=fault)
        return await self._stream(request, events, _anthropic_sse, _ANTHROPIC_BROKEN)

    async def _count_tokens(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if body is None:
            return _anthropic_failure(400, "the request body is not a JSON object")
        return web.json_response({"input_tokens": anthropic_input_tokens(body)})

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model, _, method = request.match_info["call"].partition(":")
        if method == "countTokens" and body is not None:
            return web.json_response({"totalTokens": gemini_prompt_tokens(body)})
        if method not in ("streamGenerateContent", "generateContent"):
            return _gemini_failure(404, f"method '{method}' is not simulated")
        if body is None:
            return _gemini_failure(400, "the request body is not a JSON object")
        unsigned = unsigned_function_call(body)
        if unsigned is not None:
            return _gemini_failure(400, unsigned)
        prompt, _ = gemini_prompt(body)
        reply = self.script.reply_for(prompt)
        schema = gemini_schema(body)
        if schema is not None:
            reply = as_json_text(reply, schema)
        reply = as_function_call(reply, gemini_functions(body))
        reply = gemini_turn(reply, gemini_responses_sent(body))
        config = body.get("generationConfig")
        reply = within_output_limit(
            reply, config.get("maxOutputTokens") if isinstance(config, dict) else None)
        fault = self.script.take_fault(reply)
        if fault is not None and fault.kind == "http_error":
            status, error = gemini_error(fault.status)
            headers = {"retry-after": "0"} if status in (429, 503, 529) else {}
            return web.json_response(error, status=status, headers=headers)
        prompt_tokens = gemini_prompt_tokens(body)
        if method == "generateContent":
            return await self._whole(request, fault, lambda: gemini_response(
                reply, model=model, prompt_tokens=prompt_tokens))
        chunks = gemini_chunks(reply, model=model, prompt_tokens=prompt_tokens, fault=fault)
        if request.query.get("alt") != "sse":
            # Without alt=sse Gemini sends one JSON array; nothing streams that way.
            items = [item for _, item in chunks if type(item) is dict]
            return web.json_response(items)
        return await self._stream(request, chunks, _gemini_sse, _GEMINI_BROKEN)

    async def _unknown(self, request: web.Request) -> web.Response:
        await self._record(request)
        return _anthropic_failure(404, f"the simulator does not serve {request.method} "
                                       f"{request.path}")

    # --- transport ----------------------------------------------------------------------

    async def _record(self, request: web.Request) -> dict[str, Any] | None:
        received = perf_counter()
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        self.requests.append(RecordedRequest(
            request.path, body if isinstance(body, dict) else {}, dict(request.headers),
            request.method, dict(request.query), received))
        return body if isinstance(body, dict) else None

    async def _stream(self, request: web.Request, items: Iterator[tuple[float, Any]],
                      encode: Callable[[dict[str, Any]], bytes],
                      broken: bytes) -> web.StreamResponse:
        """Write each event as soon as it is due; act on a mid-stream fault."""
        task = asyncio.current_task()
        self._handlers.add(task)  # type: ignore[arg-type]
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
            "request-id": "req_sim_" + uuid.uuid4().hex[:20]})
        try:
            await response.prepare(request)
            write = response.write
            sleep = asyncio.sleep
            pace = Schedule().wait
            for delay, item in items:
                if delay > 0.0:
                    await pace(delay)
                if type(item) is dict:
                    await write(encode(item))
                    continue
                if item.kind == "stall":
                    await sleep(item.seconds)
                    continue
                if item.kind == "malformed":
                    await write(broken)
                await _drop(request)
                return response
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away: nothing left to send it
        finally:
            self._handlers.discard(task)  # type: ignore[arg-type]
        return response

    async def _whole(self, request: web.Request, fault: Fault | None,
                     build: Callable[[], dict[str, Any]]) -> web.Response:
        """A non-streaming answer; drop and malformed break it, stall delays it."""
        task = asyncio.current_task()
        self._handlers.add(task)  # type: ignore[arg-type]
        try:
            if fault is not None and fault.kind == "stall":
                await asyncio.sleep(fault.seconds)
            if fault is not None and fault.kind == "drop":
                await _drop(request)
                return web.Response()
            if fault is not None and fault.kind == "malformed":
                return web.Response(body=b'{"id": "broken", "content": [', status=200,
                                    content_type="application/json")
            return web.json_response(build(), dumps=lambda data: _dumps(data))
        finally:
            self._handlers.discard(task)  # type: ignore[arg-type]


def _anthropic_sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {_dumps(event)}\n\n".encode()


def _gemini_sse(chunk: dict[str, Any]) -> bytes:
    return f"data: {_dumps(chunk)}\r\n\r\n".encode()


# A data line cut off mid-JSON, as a broken proxy might deliver it.
_ANTHROPIC_BROKEN = (b'event: content_block_delta\n'
                     b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_\n\n')
_GEMINI_BROKEN = b'data: {"candidates":[{"content":{"parts":[{"text":"\r\n\r\n'


# How long a dropped connection stays open after its last event. A client that reads the
# last events and the connection's end in one go may discard those events (the Claude
# CLI does); a network failure a moment after the last event lets them arrive.
_DROP_LINGER_S = 0.02


async def _drop(request: web.Request) -> None:
    """End the connection with the response unfinished, like a network failure: what was
    written arrives, then the client sees the stream end without its last event."""
    transport = request.transport
    if transport is None:
        return
    for _ in range(1000):  # let what is already written leave (bounded: at most ~1 s)
        if not transport.get_write_buffer_size():
            break
        await asyncio.sleep(0.001)
    await asyncio.sleep(_DROP_LINGER_S)
    transport.close()


def _anthropic_failure(status: int, message: str) -> web.Response:
    _, body, headers = anthropic_error(status)
    body["error"]["message"] = message
    return web.json_response(body, status=status, headers=headers)


def _gemini_failure(status: int, message: str) -> web.Response:
    _, body = gemini_error(status)
    body["error"]["message"] = message
    return web.json_response(body, status=status)


class SimulatorThread:
    """The simulator on its own thread and event loop, for callers that block:
    `with SimulatorThread(script) as sim: ... sim.base_url ...`."""

    def __init__(self, script: Script | None = None, *, host: str = "127.0.0.1",
                 port: int = 0):
        self._simulator = Simulator(script, host=host, port=port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self._simulator.base_url

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._simulator.requests

    @property
    def script(self) -> Script:
        return self._simulator.script

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._simulator.start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="rillet-simulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            raise failure[0]

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._simulator.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = self._thread = None

    def __enter__(self) -> SimulatorThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(host: str, port: int, script_path: str | None) -> None:
    """Run the simulator until Ctrl-C (`rillet sim`)."""
    script = Script.load(script_path) if script_path else Script.default()

    async def run() -> None:
        async with Simulator(script, host=host, port=port) as sim:
            url = sim.base_url
            print(f"rillet simulator on {url} — export ANTHROPIC_BASE_URL={url} "
                  f"ANTHROPIC_API_KEY=sim GOOGLE_GEMINI_BASE_URL={url} GEMINI_API_KEY=sim",
                  flush=True)
            print("Press Ctrl-C to stop.", file=sys.stderr, flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        print("rillet simulator stopped.", file=sys.stderr)

