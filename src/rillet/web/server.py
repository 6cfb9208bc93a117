"""The web page sink: an aiohttp app that runs one workflow on request and streams every
event of the run back to the page as server-sent events.

GET /          the page (static HTML shipped with the package)
GET /workflow  the workflow's summary as JSON (name, description, inputs, steps)
POST /runs     {"inputs": {...}, "mode": "mock"} -> text/event-stream, one `data:` line per
               event (`event_to_dict`, plus `mode` on a model step's StepStarted, `fields`, a
               structured step's object in order, on PartialOutput and ResponseComplete, and
               `markdown`, its Markdown, on StepCompleted: see feed.py), until the run ends. A client
               that goes away cancels its run: `rillet.stream` then closes the streams and
               writes the partial results. One that stops reading is dropped and its run
               goes on (see client_queue.py).
GET /runs      past runs in the output directory (from their event logs), newest first
GET /runs/ID/events?timing=original|none
               a past run's events again, as the run sent them: with their original
               timing, or all at once

The page reads POST /runs with fetch(), never EventSource: EventSource reconnects on its own
and every reconnect would start a new run.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import signal
import sys
from contextlib import suppress
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from rillet.api import stream as stream_run
from rillet.engine.modes import default_run_mode
from rillet.errors import RilletError
from rillet.local_http import start_site
from rillet.web import past_runs
from rillet.web.client_queue import CLIENT_QUEUE_EVENTS, RunFeed
from rillet.web.feed import Feed, live_ready, step_modes
from rillet.web.guard import add_security_headers, allowed_hosts, guard, is_loopback

MODES = ("mixed", "mock", "sim", "live")
_NAME_SLOT = "__RILLET_WORKFLOW_NAME__"

# Compact JSON; non-ASCII text goes out as UTF-8. `default=str` covers YAML dates in inputs.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


class RunRequest(BaseModel):
    """The body of POST /runs."""

    model_config = ConfigDict(extra="forbid")

    inputs: dict[str, Any] = {}
    mode: Literal["mixed", "mock", "sim", "live"] | None = None


def workflow_summary(workflow: Any, default_mode: str | None = None,
                     output_dir: Path | None = None) -> dict[str, Any]:
    """What the page shows before a run: the workflow, its inputs and its steps, and for
    each run mode where each model step would run. `live` is offered only when every
    provider the workflow uses has credentials."""
    steps = []
    for step in workflow.steps:
        kind = step.type
        provider = getattr(step, "provider", None) or ("gemini" if kind == "gemini" else None)
        steps.append({"name": step.name, "type": kind, "provider": provider,
                      "model": getattr(step, "model", None), "condition": step.condition})
    credentials = live_ready(workflow)
    modes = [m for m in MODES if m != "live" or all(credentials.values())]
    return {"name": workflow.name, "description": workflow.description,
            "inputs": workflow.inputs, "steps": steps, "modes": modes,
            "default_mode": default_mode or default_run_mode(), "credentials": credentials,
            "step_modes": {m: step_modes(workflow, m) for m in MODES},
            "output_dir": str(output_dir or workflow.defaults.output_dir)}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _sse(payload: dict[str, Any]) -> bytes:
    # json never writes a raw newline, so one event is always one `data:` line.
    return b"data: " + _dumps(payload).encode() + b"\n\n"


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "body"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown key '{where}' (known: inputs, mode)")
        elif where == "mode":
            problems.append(f"mode must be one of {', '.join(MODES)} or null, "
                            f"not {err['input']!r}")
        else:
            problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)


def _page_html(name: str) -> str:
    page = files("rillet.web").joinpath("page.html").read_text(encoding="utf-8")
    return page.replace(_NAME_SLOT, html.escape(name))


class WebServer:
    """The page server in the current event loop: `async with WebServer(wf) as server:`."""

    def __init__(self, workflow: Any, *, host: str = "127.0.0.1", port: int = 8000,
                 mode: str | None = None, output_dir: str | Path | None = None,
                 workspace_dir: str | Path | None = None, max_runs: int = 4,
                 allowed_hosts: tuple[str, ...] = (), token: str | None = None,
                 allow_code: bool = True, client_queue: int = CLIENT_QUEUE_EVENTS,
                 write_timeout_s: float = 30.0):
        if max_runs < 1:
            raise ValueError("max_runs must be at least 1")
        self.workflow = workflow
        self.host = host
        self.port = port
        self.mode = mode
        self.output_dir = output_dir
        self.workspace_dir = workspace_dir
        self.max_runs = max_runs
        self.allowed_hosts = allowed_hosts
        # Off loopback anyone on the network could reach it: a token is a must there.
        self.token = token or (None if is_loopback(host) else secrets.token_urlsafe(24))
        self.allow_code = allow_code
        self.client_queue = client_queue
        self.write_timeout_s = write_timeout_s
        self._handlers: set[asyncio.Task[Any]] = set()
        self._page = _page_html(workflow.name)
        self._output_root = Path(output_dir or workflow.defaults.output_dir)
        self._summary = _dumps(workflow_summary(workflow, mode, self._output_root))
        self._runs: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        query = f"?token={self.token}" if self.token else ""
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}/{query}"

    @property
    def base_url(self) -> str:
        """The server's address without the token."""
        return self.url.split("?", 1)[0]

    @property
    def active_runs(self) -> int:
        return len(self._runs)

    def app(self) -> web.Application:
        # Host and Origin checks on every bind; the token off loopback (rillet.web.guard).
        app = web.Application(middlewares=[
            guard(allowed_hosts(self.host, self.allowed_hosts), self.token)])
        app.on_response_prepare.append(add_security_headers)
        app.router.add_get("/", self._index)
        app.router.add_get("/workflow", self._workflow)
        app.router.add_post("/runs", self._run)
        app.router.add_get("/runs", self._past_runs)
        app.router.add_get("/runs/{run_id}/events", self._replay)
        return app

    async def start(self) -> None:
        # A client that goes away cancels its handler, hence its run, even while the run
        # is quiet (a model thinking, a step waiting on a tool).
        self._runner, self.port = await start_site(self.app(), self.host, self.port)

    async def stop(self) -> None:
        """Cancel the runs in flight (each writes its partial results), then stop serving."""
        if self._runner is None:
            return
        self._stopping = True
        runs = list(self._runs)
        for task in runs:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        if self._handlers:  # they tell their pages why the stream ends
            await asyncio.wait(self._handlers, timeout=self.write_timeout_s)
        runner, self._runner = self._runner, None
        await runner.cleanup()
        self._stopping = False

    async def __aenter__(self) -> WebServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- routes -------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text=self._page, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store"})

    async def _workflow(self, request: web.Request) -> web.Response:
        return web.Response(text=self._summary, content_type="application/json")

    async def _run(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":
            return _error(415, "send the run request as JSON (Content-Type: application/json), "
                               'e.g. {"inputs": {}, "mode": "mock"}')
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError as exc:
            return _error(400, f"the request body is not valid JSON ({exc}); send e.g. "
                               '{"inputs": {}, "mode": "mock"}')
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object such as "
                               '{"inputs": {}, "mode": "mock"}')
        try:
            run = RunRequest.model_validate(body)
        except ValidationError as exc:
            return _error(400, _describe(exc))
        if len(self._runs) >= self.max_runs:
            return _error(429, f"{self.max_runs} run(s) already in progress, the most this "
                               "server allows (--max-runs): wait for one to finish")
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            return await self._stream(request, run)
        finally:
            self._handlers.discard(task)

    async def _stream(self, request: web.Request, run: RunRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no"})
        await response.prepare(request)
        mode = run.mode if run.mode is not None else self.mode
        pages = Feed(self.workflow, mode or default_run_mode())  # events -> page payloads
        events = stream_run(self.workflow, mode=mode, output_dir=self.output_dir,
                            workspace_dir=self.workspace_dir, inputs=run.inputs, quiet=True,
                            allow_code=self.allow_code)
        # The run is a task of its own holding the run slot; a client that falls behind is
        # dropped (its connection closed) and the run goes on (rillet.web.client_queue).
        transport = request.transport
        feed = RunFeed(events, limit=self.client_queue,
                       on_drop=lambda: transport.close() if transport is not None else None)
        self._runs.add(feed.task)
        feed.task.add_done_callback(self._runs.discard)
        write = response.write
        try:
            async for event in feed:
                if (payload := pages.payload(event)) is not None:
                    await asyncio.wait_for(write(_sse(payload)), self.write_timeout_s)
            if feed.cancelled and self._stopping:
                await self._last_word(response, "the server stopped, so the run was "
                                                "cancelled; what it produced so far is in "
                                                "its results")
            elif not feed.dropped:
                await response.write_eof()
        except TimeoutError:
            feed.drop()  # a client that stopped reading; its run goes on
        except ConnectionError:
            if not feed.dropped:
                await feed.cancel()  # the client went away; the run has nobody to show
        except asyncio.CancelledError:
            if not feed.dropped and not feed.task.done():
                await feed.cancel()  # the client went away (handler cancellation)
            raise
        except Exception as exc:  # noqa: BLE001 - the page must hear why, not a cut stream
            await self._last_word(response, str(exc) if isinstance(exc, RilletError)
                                  else f"{type(exc).__name__}: {exc}")
        return response

    # --- past runs -------------------------------------------------------------------------

    async def _past_runs(self, request: web.Request) -> web.Response:
        runs = await asyncio.to_thread(past_runs.list_runs, self._output_root)
        return web.Response(text=_dumps({"output_dir": str(self._output_root), "runs": runs}),
                            content_type="application/json", headers={"Cache-Control": "no-store"})

    async def _replay(self, request: web.Request) -> web.StreamResponse:
        """A past run's events as server-sent events, read from its log a chunk at a time
        off the event loop, at their original pace (`timing=original`) or at once."""
        run_id = request.match_info["run_id"]
        timing = request.query.get("timing", "original")
        if timing not in ("original", "none"):
            return _error(400, f"timing must be original or none, not {timing!r}")
        path = await asyncio.to_thread(past_runs.log_path, self._output_root, run_id)
        if path is None:
            return _error(404, f"no run '{run_id}' with an event log in {self._output_root}")
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no"})
        await response.prepare(request)
        feed = Feed(self.workflow, None)
        loop = asyncio.get_running_loop()
        started, offset = loop.time(), 0
        try:
            while True:
                events, end = await asyncio.to_thread(past_runs.read_events, path, offset)
                if end == offset:
                    break
                offset = end
                for event in events:
                    delay = started + float(event.pop("t", 0) or 0) - loop.time()
                    if timing == "original" and delay > 0:
                        await asyncio.sleep(delay)
                    if (payload := feed.replayed(event)) is not None:
                        await response.write(_sse(payload))
            await response.write_eof()
        except ConnectionError:
            pass  # the page went away
        return response

    @staticmethod
    async def _last_word(response: web.StreamResponse, error: str) -> None:
        try:
            await response.write(_sse({"type": "RunError", "step": "", "error": error}))
            await response.write_eof()
        except ConnectionError:
            pass


async def _serve_until_stopped(server: WebServer) -> None:
    stop = asyncio.Event()
    # Ctrl-C cancels this task (asyncio.run); SIGTERM ends it the same orderly way.
    with suppress(NotImplementedError):  # no signal handlers on Windows' loop
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        print(f"rillet ▸ serving '{server.workflow.name}' at {server.url}  (Ctrl-C stops)",
              flush=True)
        if not is_loopback(server.host):
            print(f"warning: listening on {server.host}: anyone who has the address above, "
                  "token included, can run the workflow (and spend its API credits)",
                  file=sys.stderr, flush=True)
        await stop.wait()


def serve(workflow: Any, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Serve the page until Ctrl-C or SIGTERM, which cancel the runs in flight. Options:
    those of WebServer (mode, output_dir, workspace_dir, max_runs, allowed_hosts, token,
    allow_code, ...). Raises OSError when the port is taken."""
    try:
        asyncio.run(_serve_until_stopped(WebServer(workflow, host=host, port=port, **options)))
    except KeyboardInterrupt:
        pass
    print("rillet ▸ stopped", flush=True)
