"""`rillet serve`'s security: Host and Origin checks on every bind, a token off loopback,
no framing, and a client that stops reading is dropped without holding its run slot; a
prompt file that is a FIFO does not block the server."""

from __future__ import annotations

import asyncio
import json
import os
import textwrap
import time

import aiohttp
import pytest

from rillet.web.server import WebServer
from rillet.workflow.loader import load_workflow

QUICK = """
workflow:
  name: quick
  steps:
    - name: say
      type: claude
      prompt: "hello"
      mock: {text: "hi there", timing: {pattern: fast}}
"""

# About 8 MB of text: more than the kernel's socket buffers can hold for a client that
# never reads, so the server's queue for it must overflow.
MANY_WORDS = " ".join(f"w{i:05d}" + "x" * 194 for i in range(40_000))
FLOOD = f"""
workflow:
  name: flood
  steps:
    - name: long
      type: claude
      prompt: "Write a lot"
      mock:
        text: "{MANY_WORDS}"
        timing: {{first_token_delay_s: 0, tokens_per_second: 50000, chunk_tokens: 1}}
"""


@pytest.fixture
async def serve(tmp_path):
    servers: list[WebServer] = []

    async def _serve(yaml_text: str, **options) -> WebServer:
        folder = tmp_path / f"flow{len(servers)}"
        folder.mkdir()
        path = folder / "flow.yaml"
        path.write_text(textwrap.dedent(yaml_text), encoding="utf-8")
        server = WebServer(load_workflow(path), port=0, output_dir=tmp_path / "out",
                           workspace_dir=tmp_path / "ws", **options)
        await server.start()
        servers.append(server)
        return server

    yield _serve
    for server in servers:
        await server.stop()


def _local(server: WebServer, path: str = "") -> str:
    return f"http://127.0.0.1:{server.port}/{path}"


async def test_off_loopback_the_host_check_stays_on(serve):
    server = await serve(QUICK, host="0.0.0.0")
    auth = {"Authorization": f"Bearer {server.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(_local(server, "workflow"), headers={
                **auth, "Host": f"evil.example:{server.port}"}) as rebound:
            message = (await rebound.json())["error"]
        async with session.get(_local(server, "workflow"), headers=auth) as direct:
            assert direct.status == 200
    assert rebound.status == 403 and "not 'evil.example'" in message
    assert "--allowed-host evil.example" in message


async def test_allowed_hosts_are_configurable(serve):
    server = await serve(QUICK, host="0.0.0.0", allowed_hosts=("rillet.lan",))
    async with aiohttp.ClientSession() as session:
        async with session.get(_local(server, "workflow"), headers={
                "Authorization": f"Bearer {server.token}",
                "Host": f"rillet.lan:{server.port}"}) as response:
            assert response.status == 200


async def test_off_loopback_the_origin_check_stays_on(serve):
    server = await serve(QUICK, host="0.0.0.0")
    async with aiohttp.ClientSession() as session:
        async with session.post(_local(server, "runs"), json={"mode": "mock"}, headers={
                "Authorization": f"Bearer {server.token}",
                "Origin": "http://evil.example"}) as response:
            assert response.status == 403
    assert server.active_runs == 0


async def test_off_loopback_every_request_needs_the_token(serve):
    server = await serve(QUICK, host="0.0.0.0")
    assert server.token and f"?token={server.token}" in server.url
    async with aiohttp.ClientSession() as session:
        for path in ("", "workflow"):
            async with session.get(_local(server, path)) as response:
                assert response.status == 401
        async with session.post(_local(server, "runs"), json={"mode": "mock"}) as response:
            assert response.status == 401
        async with session.get(_local(server, "?token=wrong"),
                               allow_redirects=False) as response:
            assert response.status == 401
    assert server.active_runs == 0


async def test_the_printed_address_logs_the_browser_in_with_a_strict_cookie(serve, tmp_path):
    server = await serve(QUICK, host="0.0.0.0")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(_local(server, f"?token={server.token}"),
                               allow_redirects=False) as login:
            cookie = login.headers["Set-Cookie"]
        assert login.status == 303 and login.headers["Location"] == "/"
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with session.get(_local(server)) as page:
            assert page.status == 200 and "quick" in await page.text()
        async with session.post(_local(server, "runs"), json={"mode": "mock"}) as run:
            assert run.status == 200
            body = await run.text()
    assert '"PipelineCompleted"' in body


async def test_loopback_needs_no_token(serve):
    server = await serve(QUICK)
    assert server.token is None
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "workflow") as response:
            assert response.status == 200


@pytest.mark.parametrize("path", ["", "workflow", "runs"])
async def test_no_response_may_be_framed(serve, path):
    server = await serve(QUICK)
    async with aiohttp.ClientSession() as session:
        method = session.post if path == "runs" else session.get
        async with method(server.url + path, json={"mode": "mock"}) as response:
            await response.read()
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_a_client_that_never_reads_is_dropped_and_frees_its_run_slot(serve, tmp_path):
    server = await serve(FLOOD, max_runs=1, client_queue=200)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    body = json.dumps({"mode": "mock"}).encode()
    writer.write(b"POST /runs HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json"
                 b"\r\nContent-Length: %d\r\n\r\n%s" % (server.port, len(body), body))
    await writer.drain()
    # Never read. The run goes on to its end all the same and frees its slot.
    deadline = time.monotonic() + 60
    while not list((tmp_path / "out").glob("*/results.json")) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    while server.active_runs and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    [results] = (tmp_path / "out").glob("*/results.json")
    document = json.loads(results.read_text())
    assert document["status"] == "completed"
    assert document["steps"]["long"]["text"] == MANY_WORDS
    assert server.active_runs == 0
    # The stuck client's connection was closed by the server.
    received = b""
    while chunk := await asyncio.wait_for(reader.read(1 << 20), 10):
        received += chunk
    assert received.count(b"data: ") < 40_000
    writer.close()


async def test_a_fifo_prompt_file_does_not_block_the_server(serve, tmp_path):
    fifo_flow = """
workflow:
  name: fifo
  steps:
    - name: read
      type: claude
      prompt:
        - {type: file, path: pipe}
      mock: {text: "never", timing: {pattern: fast}}
"""
    server = await serve(fifo_flow)
    os.mkfifo(tmp_path / "flow0" / "pipe")
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "runs", json={"mode": "mock"}) as run:
            events = [json.loads(line[6:]) async for line in run.content
                      if line.startswith(b"data: ")]
        async with session.get(server.url + "workflow") as summary:
            assert summary.status == 200
    failed = [e for e in events if e["type"] == "PipelineFailed"]
    assert failed and "not a regular file" in failed[0]["error"]


def test_serve_refuses_a_workflow_with_code_under_no_code(tmp_path):
    from typer.testing import CliRunner

    from rillet.cli import app

    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent("""
        workflow:
          name: hooks
          steps:
            - name: say
              type: claude
              claude_options: {mcp_servers: {x: {command: "./x.sh"}}}
              prompt: "hello"
    """))
    out = CliRunner().invoke(app, ["serve", str(flow), "--no-code", "--port", "0"])
    assert out.exit_code == 2 and "mcp_servers" in out.output
