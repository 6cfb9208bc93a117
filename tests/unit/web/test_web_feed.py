"""What the page gets beyond the raw events (where each step runs, a structured step's
object as ordered fields, a completed step's Markdown as plain nodes) and the past runs it
lists and replays."""

from __future__ import annotations

import json
import textwrap
import time

import aiohttp
import pytest

from rillet.events import (PartialOutput, ResponseComplete, StepCompleted, StepStarted,
                           StreamRetry)
from rillet.web.feed import Feed, field_tree, find_step, markdown_tree
from rillet.web.server import WebServer
from rillet.workflow.loader import load_workflow, loads_workflow

FLOW = """
workflow:
  name: feed-demo
  steps:
    - name: draft
      type: claude
      prompt: "Write"
      mock:
        text: "# Title\\n\\nSome **bold** words and <b>raw html</b>."
        timing: {pattern: slow, first_token_delay_s: 0, tokens_per_second: 60}
    - name: pinned
      type: claude
      mode: mock
      prompt: "Again"
      mock:
        text: "Short."
        timing: {pattern: fast}
"""

NO_KEYS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN",
           "GEMINI_API_KEY", "GOOGLE_API_KEY")


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for name in NO_KEYS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


def test_markdown_keeps_raw_html_as_text_and_drops_unsafe_links_and_images():
    tree = markdown_tree("Hi <script>alert(1)</script> [x](javascript:alert(1)) "
                         "[ok](https://example.org) ![pic](https://example.org/p.png)\n\n"
                         "- one\n- two\n\n```\n<b>code</b>\n```")
    para, items, code = tree
    assert para["tag"] == "p"
    assert "<script>alert(1)</script>" in para["children"][0]  # text, not an element
    links = [n for n in para["children"] if isinstance(n, dict)]
    assert [n["tag"] for n in links] == ["a", "a"]  # the javascript: link is not one
    assert [n.get("href") for n in links] == ["https://example.org", "https://example.org/p.png"]
    assert not any(n.get("tag") == "img" for n in links)
    assert items == {"tag": "ul", "children": [{"tag": "li", "children": ["one"]},
                                               {"tag": "li", "children": ["two"]}]}
    assert code == {"tag": "pre", "children": [{"tag": "code", "children": ["<b>code</b>\n"]}]}


def test_a_model_steps_start_says_where_it_runs_in_this_run_mode(no_credentials):
    flow = loads_workflow(FLOW)
    started = StepStarted("draft", "claude", "claude_agent", None)
    assert Feed(flow, "mixed").payload(started)["mode"] == "sim"  # no credentials
    assert Feed(flow, "mock").payload(started)["mode"] == "mock"
    pinned = StepStarted("pinned", "claude", "claude_agent", None)
    assert Feed(flow, "mixed").payload(pinned)["mode"] == "mock"  # the step's own choice
    assert "mode" not in Feed(flow, "mixed").payload(StepStarted("note", "set_variable"))


def test_a_completed_step_carries_its_markdown_and_a_path_label_finds_its_step():
    flow = loads_workflow(FLOW)
    payload = Feed(flow, "mock").payload(StepCompleted("draft", "**yes**"))
    assert payload["markdown"] == [{"tag": "p", "children": [
        {"tag": "strong", "children": ["yes"]}]}]
    assert payload["text"] == "**yes**"
    assert find_step(flow, "pinned").mode == "mock"
    assert find_step(flow, "draft[2]").name == "draft"
    assert find_step(flow, "elsewhere.outline") is None


@pytest.fixture
async def server(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(FLOW), encoding="utf-8")
    server = WebServer(load_workflow(path), port=0, output_dir=tmp_path / "out",
                       workspace_dir=tmp_path / "ws")
    await server.start()
    yield server
    await server.stop()


async def sse(response: aiohttp.ClientResponse) -> list[dict]:
    return [json.loads(line[6:]) async for line in response.content if line.startswith(b"data: ")]


async def test_a_finished_run_is_listed_and_replays_with_the_same_events(server):
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "runs", json={"mode": "mock"}) as response:
            live = await sse(response)
        async with session.get(server.url + "runs") as response:
            listing = await response.json()
        [run] = listing["runs"]
        assert run["run_id"] == live[0]["run_id"] and run["status"] == "completed"
        assert run["workflow"] == "feed-demo" and run["steps"] == ["draft", "pinned"]
        async with session.get(server.url + f"runs/{run['run_id']}/events?timing=none") as response:
            again = await sse(response)
    assert all(e["replay"] for e in again)
    kinds = [e["type"] for e in live if e["type"] != "TextDelta"]
    assert [e["type"] for e in again if e["type"] != "TextDelta"] == kinds
    for step in ("draft", "pinned"):
        text = "".join(e["text"] for e in live if e["type"] == "TextDelta" and e["step"] == step)
        assert "".join(e["text"] for e in again
                       if e["type"] == "TextDelta" and e["step"] == step) == text
    [done] = [e for e in again if e["type"] == "StepCompleted" and e["step"] == "draft"]
    assert done["markdown"][0] == {"tag": "h1", "children": ["Title"]}


async def test_a_replay_keeps_the_original_pace_unless_asked_to_go_at_once(server, tmp_path):
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "runs", json={"mode": "mock"}) as response:
            run_id = (await sse(response))[0]["run_id"]
        log = (tmp_path / "out" / run_id / "events.jsonl").read_text().splitlines()
        length = json.loads(log[-1])["t"]
        assert length > 0.3  # a slow mock reply: the log spans its time
        started = time.monotonic()
        async with session.get(server.url + f"runs/{run_id}/events") as response:
            arrivals = []
            async for line in response.content:
                if line.startswith(b"data: "):
                    arrivals.append((json.loads(line[6:])["type"], time.monotonic() - started))
        # Never sooner than the original run sent them (a lower bound: no timing target).
        assert arrivals[-1][1] >= length - 0.05
        first_text = next(t for kind, t in arrivals if kind == "TextDelta")
        assert first_text < arrivals[-1][1] - 0.15  # the text came over time, not at the end


@pytest.mark.parametrize("path, status", [("runs/nope/events", 404),
                                          ("runs/..%2F..%2Fetc/events", 404),
                                          ("runs/x/events?timing=fast", 400)])
async def test_replay_requests_for_unknown_runs_or_bad_options_are_refused(server, path, status):
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + path) as response:
            assert response.status == status
            assert (await response.json())["error"]


# --- a step with output_schema: its object as ordered fields ---------------------------------

VERDICT = """
workflow:
  name: verdict-demo
  steps:
    - name: verdict
      type: claude
      prompt: "Judge"
      output_schema:
        type: object
        properties:
          severity: {enum: [low, high]}
          "2": {type: string}
          findings: {type: array, items: {type: object}}
        required: [severity, "2", findings]
      mock:
        output: {severity: high, "2": "second <b>key</b>, one word after another", findings: [{title: a}, {title: b}]}
        timing: {pattern: slow, first_token_delay_s: 0, tokens_per_second: 150}
"""


def test_an_object_goes_to_the_page_as_ordered_entries():
    value = {"b": 1, "10": {"x": [True, None, {"y": "z"}]}, "a": "text"}
    assert field_tree(value) == {"entries": [
        ["b", 1], ["10", {"entries": [["x", [True, None, {"entries": [["y", "z"]]}]]]}],
        ["a", "text"]]}
    assert field_tree([1, "two"]) == [1, "two"] and field_tree("s") == "s"


def test_an_unchanged_object_is_not_sent_again_and_a_retry_starts_it_afresh():
    feed = Feed(loads_workflow(VERDICT), "mock")
    growing: dict = {}
    assert feed.payload(PartialOutput("verdict", growing))["fields"] == {"entries": []}
    growing["severity"] = "hi"
    assert feed.payload(PartialOutput("verdict", growing))["fields"] == {
        "entries": [["severity", "hi"]]}
    assert feed.payload(PartialOutput("verdict", growing)) is None  # the page has it
    growing["severity"] = "high"
    assert feed.payload(PartialOutput("verdict", growing))["value"] == {"severity": "high"}
    feed.payload(StreamRetry("verdict", 1, "the reply did not fit", whole=True))
    assert feed.payload(PartialOutput("verdict", growing)) is not None  # the answer again


def test_the_validated_object_comes_as_fields_and_its_json_text_is_not_markdown():
    feed = Feed(loads_workflow(VERDICT), "mock")
    plain = feed.payload(ResponseComplete("other"))
    assert "fields" not in plain
    done = feed.payload(ResponseComplete("verdict", output={"severity": "high"}))
    assert done["fields"] == {"entries": [["severity", "high"]]}
    assert "markdown" not in feed.payload(StepCompleted("verdict", '{"severity": "high"}'))
    assert "markdown" in feed.payload(StepCompleted("other", "**prose**"))


async def test_a_structured_run_and_its_replay_send_the_same_growing_fields(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(VERDICT), encoding="utf-8")
    server = WebServer(load_workflow(path), port=0, output_dir=tmp_path / "out",
                       workspace_dir=tmp_path / "ws")
    async with server, aiohttp.ClientSession() as session:
        async with session.post(server.url + "runs", json={"mode": "mock"}) as response:
            live = await sse(response)
        run_id = live[0]["run_id"]
        async with session.get(server.url + f"runs/{run_id}/events?timing=none") as response:
            again = await sse(response)
    expected = {"entries": [["severity", "high"], ["2", "second <b>key</b>, one word after another"], ["findings", [
        {"entries": [["title", "a"]]}, {"entries": [["title", "b"]]}]]]}
    for events in (live, again):
        partial = [e["fields"] for e in events if e["type"] == "PartialOutput"]
        # The object grew over many events live; the log keeps one every SNAPSHOT_S.
        assert len(partial) > (5 if events is live else 1)
        assert all(a != b for a, b in zip(partial, partial[1:]))  # ... each one new
        summaries = [dict(f["entries"]).get("2") for f in partial if len(f["entries"]) > 1]
        assert summaries and expected["entries"][1][1].startswith(summaries[0])
        assert len(set(summaries)) > (2 if events is live else 0)
        assert all(expected["entries"][1][1].startswith(s) for s in summaries if s)
    assert [e["fields"] for e in live if e["type"] == "PartialOutput"][-1] == expected
    for events in (live, again):
        [final] = [e for e in events if e["type"] == "ResponseComplete"]
        assert final["fields"] == expected
        [done] = [e for e in events if e["type"] == "StepCompleted"]
        assert "markdown" not in done
