"""The simulator over raw HTTP: wire format, routes, faults, shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import aiohttp
import pytest

from rillet.sim.script import Script
from rillet.sim.server import SimulatorThread

USER = {"model": "claude-sim", "messages": [{"role": "user", "content": "hello"}]}


def fast_script(**rule):
    return Script.from_dict({"timing": {"pattern": "fast"},
                             "rules": [{"match": "", **rule}] if rule else []})


async def post(url, body):
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body) as response:
            return response.status, response.headers.copy(), await response.read()


def sse_events(raw: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        out.append((event_line[7:], json.loads(data_line[6:])))
    return out


async def test_streams_sse_with_an_event_line_naming_each_event(sim_factory):
    sim = await sim_factory(fast_script(text="Hi there."))
    status, headers, raw = await post(sim.base_url + "/v1/messages?beta=true",
                                      {**USER, "stream": True})
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(raw)
    assert all(name == data["type"] for name, data in events)
    assert [name for name, _ in events] == [
        "message_start", "content_block_start", "ping", "content_block_delta",
        "content_block_delta", "content_block_delta", "content_block_stop", "message_delta",
        "message_stop"]
    recorded = sim.requests[-1]
    assert (recorded.path, recorded.query, recorded.body["stream"]) == (
        "/v1/messages", {"beta": "true"}, True)


async def test_usage_counts_the_request_and_the_reply(sim_factory):
    sim = await sim_factory(fast_script(text="One two three."))
    body = {"model": "m", "stream": True, "system": "Be brief.",
            "messages": [{"role": "user", "content": "count these words"}]}
    events = dict(sse_events((await post(sim.base_url + "/v1/messages", body))[2]))
    assert events["message_start"]["message"]["usage"]["input_tokens"] == 3 + 3
    assert events["message_delta"]["usage"]["output_tokens"] == 4


async def test_without_stream_the_answer_is_one_json_message(sim_factory):
    sim = await sim_factory(fast_script(text="Whole."))
    status, _, raw = await post(sim.base_url + "/v1/messages", USER)
    body = json.loads(raw)
    assert status == 200 and body["content"] == [{"type": "text", "text": "Whole."}]
    assert body["usage"]["output_tokens"] == 2


async def test_count_tokens_answers_with_the_input_count(sim):
    status, _, raw = await post(sim.base_url + "/v1/messages/count_tokens?beta=true",
                                {"messages": [{"role": "user", "content": "three small words"}]})
    assert (status, json.loads(raw)) == (200, {"input_tokens": 3})


async def test_unknown_routes_are_404_in_anthropics_error_shape_and_recorded(sim):
    status, _, raw = await post(sim.base_url + "/v1/complete", {"prompt": "x"})
    body = json.loads(raw)
    assert status == 404
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert "/v1/complete" in body["error"]["message"]
    assert sim.requests[-1].path == "/v1/complete"


async def test_a_body_that_is_not_json_is_a_400(sim):
    async with aiohttp.ClientSession() as session:
        async with session.post(sim.base_url + "/v1/messages", data=b"{nope") as response:
            body = await response.json()
    assert response.status == 400 and body["error"]["type"] == "invalid_request_error"


async def test_an_http_error_fault_answers_before_any_stream(sim_factory):
    sim = await sim_factory(fast_script(fault={"kind": "http_error", "status": 429}))
    status, headers, raw = await post(sim.base_url + "/v1/messages", {**USER, "stream": True})
    assert status == 429 and headers["retry-after"] == "0"
    assert json.loads(raw)["error"]["type"] == "rate_limit_error"
    status, _, _ = await post(sim.base_url + "/v1/messages", {**USER, "stream": True})
    assert status == 200  # times: 1


async def test_drop_closes_the_connection_after_the_deltas_already_sent(sim_factory):
    sim = await sim_factory(fast_script(text="a b c d e", fault={"kind": "drop",
                                                                 "after_deltas": 2}))
    received = b""
    async with aiohttp.ClientSession() as session:
        async with session.post(sim.base_url + "/v1/messages",
                                json={**USER, "stream": True}) as response:
            with pytest.raises(aiohttp.ClientPayloadError):
                async for line in response.content:
                    received += line
    texts = [json.loads(line[6:])["delta"]["text"] for line in received.split(b"\n")
             if line.startswith(b"data: ") and b"text_delta" in line]
    assert texts == ["a", " b"]
    assert b"message_stop" not in received


async def test_malformed_writes_a_broken_data_line_then_closes(sim_factory):
    sim = await sim_factory(fast_script(text="a b c", fault={"kind": "malformed",
                                                             "after_deltas": 1}))
    received = b""
    async with aiohttp.ClientSession() as session:
        async with session.post(sim.base_url + "/v1/messages",
                                json={**USER, "stream": True}) as response:
            with pytest.raises(aiohttp.ClientPayloadError):
                async for line in response.content:
                    received += line
    last_data = [line for line in received.split(b"\n") if line.startswith(b"data: ")][-1]
    with pytest.raises(ValueError):
        json.loads(last_data[6:])


async def test_stop_ends_a_stalled_stream_at_once(sim_factory):
    sim = await sim_factory(fast_script(text="a b", fault={"kind": "stall", "seconds": 60,
                                                           "after_deltas": 1}))
    async with aiohttp.ClientSession() as session:
        async with session.post(sim.base_url + "/v1/messages",
                                json={**USER, "stream": True}) as response:
            while b"text_delta" not in await response.content.readline():
                pass  # read up to the delta before the stall
            started = time.perf_counter()
            await sim.stop()
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.content.read()
    assert time.perf_counter() - started < 30


async def test_a_fast_100k_delta_reply_is_not_paced(sim_factory):
    # A sleep per delta would take over 100 s; the real rate is the bench suite's job.
    sim = await sim_factory(fast_script(text="word, ", output_tokens=100_000))
    started = time.perf_counter()
    deltas = 0
    async with aiohttp.ClientSession() as session:
        async with session.post(sim.base_url + "/v1/messages",
                                json={**USER, "stream": True}) as response:
            async for line in response.content:
                deltas += line.startswith(b"event: content_block_delta")
    assert deltas == 100_000
    assert time.perf_counter() - started < 30


async def test_gemini_streams_data_only_sse(sim_factory):
    sim = await sim_factory(fast_script(text="Hi there."))
    status, _, raw = await post(
        sim.base_url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]})
    lines = [line for line in raw.decode().split("\r\n") if line]
    assert status == 200 and all(line.startswith("data: ") for line in lines)
    chunks = [json.loads(line[6:]) for line in lines]
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == \
        "Hi there."
    assert chunks[-1]["modelVersion"] == "gemini-2.5-flash"


async def test_gemini_errors_use_googles_shape(sim_factory):
    sim = await sim_factory(fast_script(fault={"kind": "http_error", "status": 503}))
    status, headers, raw = await post(
        sim.base_url + "/v1beta/models/g:generateContent", {"contents": []})
    assert status == 503 and headers["retry-after"] == "0"
    assert json.loads(raw)["error"]["status"] == "UNAVAILABLE"
    status, _, raw = await post(sim.base_url + "/v1beta/models/g:embedContent", {})
    assert status == 404 and json.loads(raw)["error"]["code"] == 404


def test_the_thread_simulator_serves_blocking_clients(sim_thread):
    request = urllib.request.Request(
        sim_thread.base_url + "/v1/messages", data=json.dumps(USER).encode(),
        headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    assert body["type"] == "message" and body["role"] == "assistant"
    assert sim_thread.requests[0].body["messages"][0]["content"] == "hello"


def test_the_thread_simulator_reports_a_port_in_use():
    with SimulatorThread() as first:
        port = int(first.base_url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            SimulatorThread(port=port).start()


def test_serve_prints_where_it_listens_and_stops_on_ctrl_c():
    process = subprocess.Popen(
        [sys.executable, "-c",
         "from rillet.sim.server import serve; serve('127.0.0.1', 0, None)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = process.stdout.readline()
        assert line.startswith("rillet simulator on http://127.0.0.1:")
        url = line.split()[3]
        assert f"ANTHROPIC_BASE_URL={url}" in line and "GEMINI_API_KEY=sim" in line
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_stopping_twice_is_harmless(sim_factory):
    sim = await sim_factory(None)
    await sim.stop()
    await sim.stop()
    with pytest.raises(RuntimeError, match="not running"):
        sim.base_url


async def test_stall_pauses_the_stream_then_it_completes(sim_factory):
    sim = await sim_factory(fast_script(text="a b c", fault={"kind": "stall", "seconds": 0.3,
                                                             "after_deltas": 1}))
    arrivals = {}
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        async with session.post(sim.base_url + "/v1/messages",
                                json={**USER, "stream": True}) as response:
            async for line in response.content:
                if line.startswith(b"data: "):
                    text = json.loads(line[6:]).get("delta", {}).get("text")
                    if text:
                        arrivals[text] = time.perf_counter() - started
    assert list(arrivals) == ["a", " b", " c"]
    assert arrivals[" b"] - arrivals["a"] >= 0.25


async def test_faults_also_break_non_streaming_answers(sim_factory):
    broken = await sim_factory(fast_script(fault={"kind": "malformed"}))
    status, _, raw = await post(broken.base_url + "/v1/messages", USER)
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(raw)
    dropped = await sim_factory(fast_script(fault={"kind": "drop"}))
    with pytest.raises(aiohttp.ClientError):
        await post(dropped.base_url + "/v1/messages", USER)
    stalled = await sim_factory(fast_script(text="late", fault={"kind": "stall",
                                                                "seconds": 0.2}))
    started = time.perf_counter()
    status, _, raw = await post(stalled.base_url + "/v1/messages", USER)
    assert json.loads(raw)["content"][0]["text"] == "late"
    assert time.perf_counter() - started >= 0.2


async def test_gemini_without_alt_sse_answers_one_json_array(sim_factory):
    sim = await sim_factory(fast_script(text="Hi there."))
    status, _, raw = await post(
        sim.base_url + "/v1beta/models/g:streamGenerateContent",
        {"contents": [{"parts": [{"text": "hello"}]}]})
    chunks = json.loads(raw)
    assert status == 200 and len(chunks) == 3
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
