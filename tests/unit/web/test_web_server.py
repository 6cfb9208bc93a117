"""`rillet serve`: the page, the workflow summary, runs streamed as server-sent events,
cancellation when the client goes away, the concurrency bound and request errors."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.request
from importlib.resources import files
from pathlib import Path

import aiohttp
import pytest

from rillet.web.server import WebServer, is_loopback
from rillet.workflow.loader import load_workflow

DEMO = """
workflow:
  name: web-demo
  description: "Drafts <b>bold</b> & polishes"
  inputs:
    topic: rivers
    count: 3
  steps:
    - name: draft
      type: claude
      prompt: "Write about {{ inputs.topic }}"
      mock:
        text: "Rivers carve valleys over thousands of years."
        timing: {pattern: fast}
    - name: note
      type: set_variable
      variables:
        seen: "{{ inputs.topic }}"
    - name: polish
      type: gemini
      prompt: "Polish: {{ steps.draft.text }}"
      mock:
        text: "Rivers shape the land, slowly."
        timing: {pattern: fast}
"""

WORDS = " ".join(f"w{i}" for i in range(600))
SLOW = f"""
workflow:
  name: slow-demo
  steps:
    - name: long
      type: claude
      prompt: "Write slowly"
      mock:
        text: "{WORDS}"
        timing: {{pattern: slow, first_token_delay_s: 0, tokens_per_second: 200}}
"""


@pytest.fixture
async def start(tmp_path):
    """`await start(yaml, **options)` serves that workflow on a free loopback port."""
    servers: list[WebServer] = []

    async def _start(yaml_text: str, **options) -> WebServer:
        path = tmp_path / f"flow{len(servers)}.yaml"
        path.write_text(textwrap.dedent(yaml_text), encoding="utf-8")
        server = WebServer(load_workflow(path), port=0, output_dir=tmp_path / "out",
                           workspace_dir=tmp_path / "ws", **options)
        await server.start()
        servers.append(server)
        return server

    yield _start
    for server in servers:
        await server.stop()


async def read_events(response: aiohttp.ClientResponse, stop_after=None) -> list[dict]:
    """Parse `data:` lines until the stream ends (or `stop_after(events)` says stop)."""
    events: list[dict] = []
    async for line in response.content:
        if line.startswith(b"data: "):
            events.append(json.loads(line[6:]))
            if stop_after is not None and stop_after(events):
                break
        else:
            assert line == b"\n", f"unexpected SSE line {line!r}"
    return events


def text_of(events: list[dict], step: str) -> str:
    return "".join(e["text"] for e in events if e["type"] == "TextDelta" and e["step"] == step)


def deltas(count: int):
    return lambda events: sum(e["type"] == "TextDelta" for e in events) >= count


async def wait_until_idle(server: WebServer) -> None:
    # Bounded by pytest's timeout; no timing is asserted.
    while server.active_runs:
        await asyncio.sleep(0.01)


def results_of(tmp_path: Path) -> dict:
    [path] = (tmp_path / "out").glob("*/results.json")
    return json.loads(path.read_text(encoding="utf-8"))


# --- the page and the summary -----------------------------------------------------------


async def test_page_is_served_with_the_workflow_name(start):
    server = await start(DEMO)
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url) as response:
            page = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert "<title>web-demo · rillet</title>" in page
    assert '<h1 id="name">web-demo</h1>' in page
    assert "__RILLET_WORKFLOW_NAME__" not in page


async def test_page_escapes_the_workflow_name(start):
    server = await start(DEMO.replace("name: web-demo", 'name: "a <i>b</i> & c"'))
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url) as response:
            page = await response.text()
    assert '<h1 id="name">a &lt;i&gt;b&lt;/i&gt; &amp; c</h1>' in page
    assert "<i>b</i>" not in page


async def test_workflow_summary_lists_inputs_and_steps(start, monkeypatch, tmp_path):
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN",
                 "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no logged-in Claude CLI either
    server = await start(DEMO, mode="mock")
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "workflow") as response:
            summary = await response.json()
    assert summary["name"] == "web-demo"
    assert summary["description"] == "Drafts <b>bold</b> & polishes"
    assert summary["inputs"] == {"topic": "rivers", "count": 3}
    assert [(s["name"], s["type"], s["provider"]) for s in summary["steps"]] == [
        ("draft", "claude", "claude_agent"), ("note", "set_variable", None),
        ("polish", "gemini", "gemini")]
    assert summary["modes"] == ["mixed", "mock", "sim"]  # no credentials: no live
    assert summary["credentials"] == {"claude_agent": False, "gemini": False}
    assert summary["step_modes"]["mixed"] == {"draft": "sim", "polish": "sim"}
    assert summary["step_modes"]["mock"] == {"draft": "mock", "polish": "mock"}
    assert summary["default_mode"] == "mock"
    assert summary["output_dir"] == str(tmp_path / "out")


PAGE = files("rillet.web").joinpath("page.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("sink", ["innerHTML", "outerHTML", "insertAdjacentHTML",
                                  "document.write", "eval(", "new Function"])
def test_page_never_parses_event_data_as_html(sink):
    """Model text enters the page only as text nodes (append, textContent)."""
    assert sink not in PAGE


def test_page_works_offline_and_never_uses_eventsource():
    # No CDN or other host: every URL the page names is one of this server's paths.
    # (A link inside a completed step's Markdown keeps the model's http(s) target.)
    assert not re.search(r"(src|href)\s*=\s*[\"']|https?://|@import|url\(", PAGE)
    assert re.findall(r'fetch\("([^"]+)"', PAGE) == ["/workflow", "/runs"]
    # EventSource reconnects by itself, and every reconnect would start another run.
    assert "EventSource" not in PAGE
    assert "requestAnimationFrame(flush)" in PAGE


# --- runs -----------------------------------------------------------------------------------


async def test_mock_run_streams_every_event_as_sse(start, tmp_path):
    server = await start(DEMO)
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "runs", json={
                "inputs": {"topic": "deltas"}, "mode": "mock"}) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
            events = await read_events(response)
    assert events[0]["type"] == "PipelineStarted"
    assert events[0]["steps"] == ["draft", "note", "polish"]
    assert events[-1]["type"] == "PipelineCompleted"
    assert text_of(events, "draft") == "Rivers carve valleys over thousands of years."
    assert text_of(events, "polish") == "Rivers shape the land, slowly."
    assert sum(e["type"] == "TextDelta" and e["step"] == "draft" for e in events) > 1
    completed = {e["step"]: e for e in events if e["type"] == "StepCompleted"}
    assert list(completed) == ["draft", "note", "polish"]
    assert completed["draft"]["metrics"]["output_tokens"] > 0
    assert results_of(tmp_path)["steps"]["note"]["variables"] == {"seen": "deltas"}


async def test_leaving_mid_run_cancels_it_and_keeps_the_text_so_far(start, tmp_path):
    server = await start(SLOW)
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "runs", json={"mode": "mock"}) as response:
            events = await read_events(response, stop_after=deltas(10))
    # The connection is closed: the server cancels the run and writes partial results.
    await wait_until_idle(server)
    document = results_of(tmp_path)
    step = document["steps"]["long"]
    assert document["status"] == "cancelled" and step["status"] == "cancelled"
    received = text_of(events, "long")
    kept = step["text"].split()
    assert step["text"].startswith(received) and len(kept) >= 10
    assert kept == [f"w{i}" for i in range(len(kept))] and len(kept) < 600


async def test_stopping_the_server_cancels_runs_in_flight(start, tmp_path):
    server = await start(SLOW)
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "runs", json={"mode": "mock"}) as response:
            await read_events(response, stop_after=deltas(3))
            await server.stop()
            rest = await read_events(response)
    assert server.active_runs == 0
    assert [e["type"] for e in rest][-1:] == ["RunError"]
    assert rest[-1]["error"].startswith("the server stopped, so the run was cancelled")
    assert results_of(tmp_path)["status"] == "cancelled"


async def test_runs_beyond_the_bound_are_refused_with_429(start):
    server = await start(SLOW, max_runs=1)
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "runs", json={"mode": "mock"}) as first:
            await read_events(first, stop_after=deltas(1))
            async with session.post(server.url + "runs", json={"mode": "mock"}) as second:
                refusal = await second.json()
    assert second.status == 429
    assert refusal["error"].startswith("1 run(s) already in progress")
    assert "--max-runs" in refusal["error"]


async def test_a_finished_run_frees_its_place(start):
    server = await start(DEMO, max_runs=1)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.post(server.url + "runs", json={"mode": "mock"}) as response:
                assert response.status == 200
                assert (await read_events(response))[-1]["type"] == "PipelineCompleted"


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "the request body is not valid JSON"),
    (b"[1, 2]", "the request body must be a JSON object"),
    (b'{"inputs": "topic=x"}', "inputs: Input should be a valid dictionary"),
    (b'{"mode": "fast"}', "mode must be one of mixed, mock, sim, live or null, not 'fast'"),
    (b'{"input": {}}', "unknown key 'input' (known: inputs, mode)"),
])
async def test_bad_run_requests_answer_400_saying_what_is_wrong(start, body, message):
    server = await start(DEMO)
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "runs", data=body,
                                headers={"Content-Type": "application/json"}) as response:
            answer = await response.json()
    assert response.status == 400
    assert answer["error"].startswith(message)
    assert server.active_runs == 0


async def test_runs_from_another_site_are_refused(start):
    """A page on another origin (or DNS-rebound to 127.0.0.1) cannot start a run."""
    server = await start(DEMO)
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "runs", json={"mode": "mock"},
                                headers={"Origin": "http://evil.example"}) as cross_site:
            cross_site_error = (await cross_site.json())["error"]
        async with session.post(server.url + "runs", json={"mode": "mock"},
                                headers={"Host": f"evil.example:{server.port}"}) as rebound:
            rebound_error = (await rebound.json())["error"]
        async with session.post(server.url + "runs", data="mode=mock") as form:
            form_status = form.status
    assert cross_site.status == 403 and "http://evil.example are refused" in cross_site_error
    assert rebound.status == 403 and "not 'evil.example'" in rebound_error
    assert form_status == 415


async def test_a_run_that_cannot_start_ends_its_stream_saying_why(tmp_path):
    """The page hears the error as a last event instead of a stream that just stops."""
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(DEMO), encoding="utf-8")
    not_a_folder = tmp_path / "taken"
    not_a_folder.write_text("a file where the output folder should be", encoding="utf-8")
    async with WebServer(load_workflow(flow), port=0, output_dir=not_a_folder,
                         workspace_dir=tmp_path / "ws") as server:
        async with aiohttp.ClientSession() as session:
            async with session.post(server.url + "runs", json={"mode": "mock"}) as response:
                events = await read_events(response)
    assert [e["type"] for e in events] == ["RunError"]
    assert "Not a directory" in events[0]["error"]
    assert str(not_a_folder) in events[0]["error"]


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.5", False), ("example.com", False)])
def test_loopback_hosts_are_recognised(host, loopback):
    assert is_loopback(host) is loopback


def test_a_server_needs_room_for_one_run(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(DEMO), encoding="utf-8")
    with pytest.raises(ValueError, match="max_runs must be at least 1"):
        WebServer(load_workflow(flow), max_runs=0)


# --- the command ------------------------------------------------------------------------------


def serve_command(tmp_path, *args):
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(DEMO), encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "rillet.cli", "serve", str(flow), "--mode", "mock",
         "--output-dir", str(tmp_path / "out"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM],
                         ids=["ctrl-c", "sigterm"])
def test_serve_command_prints_the_url_and_stops_on_a_signal(tmp_path, stop_signal):
    process = serve_command(tmp_path, "--port", "0")
    try:
        first = process.stdout.readline()
        match = re.fullmatch(r"rillet ▸ serving 'web-demo' at (http://127\.0\.0\.1:\d+/)"
                             r"  \(Ctrl-C stops\)\n", first)
        assert match, first + (process.stderr.read() if process.poll() is not None else "")
        with urllib.request.urlopen(match.group(1) + "workflow") as response:
            assert json.load(response)["name"] == "web-demo"
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert (out, process.returncode) == ("rillet ▸ stopped\n", 0), err


def test_serve_command_says_when_the_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = serve_command(tmp_path, "--port", str(port))
        out, err = process.communicate(timeout=30)
    assert process.returncode == 1 and out == ""
    assert err.startswith(f"cannot listen on 127.0.0.1:{port}: ")
    assert "address already in use" in err and "pick another --port" in err
