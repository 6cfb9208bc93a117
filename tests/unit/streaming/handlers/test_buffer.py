"""buffer: bounded in-memory events, queries, and the lookup after a run."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pydantic import ValidationError

from handler_streams import STEP, claude_events, retried_events, run_step
from rillet.events import StepCompleted, StepStarted, TextDelta, ToolResult, ToolUse
from rillet.streaming.handler import create_handler, validate_options
from rillet.streaming.handlers import buffer as buffer_module
from rillet.streaming.handlers.buffer import buffers, clear_buffers, get_buffer

TEXT = "alpha beta gamma delta epsilon"


@pytest.fixture(autouse=True)
def empty_registry():
    clear_buffers()
    yield
    clear_buffers()


def deltas(n: int) -> list[TextDelta]:
    return [TextDelta(STEP, f"{i},") for i in range(n)]


async def test_keeps_every_event_and_answers_queries(ctx):
    buf = create_handler("buffer", {}, ctx)
    events = claude_events(text=TEXT, thinking="Hmm, well.",
                           tool_use={"name": "Bash", "input": {"command": "ls"}})
    result, _ = await run_step([buf], events)
    assert buf.events()[1:-1] == events and len(buf) == len(events) + 2
    assert buf.text() == TEXT and buf.thinking() == "Hmm, well."
    assert [e.name for e in buf.events(ToolUse)] == ["Bash"]
    assert [type(e) for e in buf.events("ToolUse", ToolResult)] == [ToolUse, ToolResult]
    assert buf.result is result and buf.error is None and buf.complete


async def test_text_is_the_latest_attempt_after_a_retry(ctx):
    buf = create_handler("buffer", {}, ctx)
    await run_step([buf], retried_events(TEXT, 3))
    assert buf.text() == TEXT
    assert len(buf.events(TextDelta)) > len(TEXT.split())  # the void deltas are still logged


def test_full_buffer_keeps_the_oldest_and_counts_what_it_turned_away(ctx):
    buf = create_handler("buffer", {"max_events": 3}, ctx)
    for event in deltas(5):
        buf.on_event(event)
    assert [e.text for e in buf.events()] == ["0,", "1,", "2,"]
    assert buf.dropped == 2 and buf.evicted == 0 and not buf.complete


def test_circular_buffer_keeps_the_newest(ctx):
    buf = create_handler("buffer", {"max_events": 3, "circular": True}, ctx)
    for event in deltas(5):
        buf.on_event(event)
    assert buf.text() == "2,3,4," and buf.evicted == 2 and buf.dropped == 0


def test_memory_limit_bounds_the_estimated_size(ctx):
    buf = create_handler("buffer", {"max_bytes": 2000, "max_events": None}, ctx)
    for event in deltas(100):
        buf.on_event(event)
    assert 0 < buf.bytes <= 2000
    assert buf.dropped == 100 - len(buf)
    assert buf.text() == "".join(f"{i}," for i in range(len(buf)))


def test_circular_memory_limit_evicts_the_oldest(ctx):
    buf = create_handler("buffer", {"max_bytes": 2000, "circular": True}, ctx)
    for event in deltas(100):
        buf.on_event(event)
    assert 0 < buf.bytes <= 2000
    assert buf.text().endswith("98,99,") and buf.evicted == 100 - len(buf)


def test_an_event_larger_than_the_whole_limit_is_dropped_not_the_buffer(ctx):
    buf = create_handler("buffer", {"max_bytes": 500, "circular": True}, ctx)
    buf.on_event(TextDelta(STEP, "small"))
    buf.on_event(TextDelta(STEP, "x" * 10_000))
    assert buf.text() == "small" and buf.dropped == 1 and buf.evicted == 0


def test_events_option_keeps_only_those_types(ctx):
    buf = create_handler("buffer", {"events": ["StepStarted", "StepCompleted"]}, ctx)
    buf.on_event(StepStarted(STEP, "claude"))
    buf.on_event(TextDelta(STEP, "x"))
    buf.on_event(StepCompleted(STEP, "x"))
    assert [type(e) for e in buf] == [StepStarted, StepCompleted] and buf.text() == ""


async def test_a_failed_step_leaves_the_partial_result_and_the_error(ctx):
    buf = create_handler("buffer", {}, ctx)
    partial, _ = await run_step([buf], claude_events(text=TEXT), fail_after=5)
    assert buf.result is partial and partial.status == "failed"
    assert "connection reset" in str(buf.error)
    assert buf.text() == partial.text


async def test_a_run_built_from_yaml_leaves_its_buffers_to_look_up(ctx):
    made = create_handler("buffer", {}, ctx)
    await run_step([made], claude_events(text=TEXT))
    assert get_buffer("run-1", STEP) is made and get_buffer("run-1", STEP).text() == TEXT
    assert buffers("run-1") == {STEP: made}
    clear_buffers("run-1")
    with pytest.raises(KeyError, match="no buffer for step 'draft' of run 'run-1'"):
        get_buffer("run-1", STEP)


def test_only_the_last_runs_are_kept(ctx, monkeypatch):
    monkeypatch.setattr(buffer_module, "KEEP_RUNS", 2)
    for run_id in ["r1", "r2", "r3"]:
        create_handler("buffer", {}, replace(ctx, run_id=run_id))
    assert buffers("r1") == {} and set(buffers("r3")) == {STEP}
    assert set(buffer_module._RUNS) == {"r2", "r3"}


def test_keep_false_stays_out_of_the_registry(ctx):
    create_handler("buffer", {"keep": False}, ctx)
    assert buffers("run-1") == {}


def test_clear_empties_the_buffer(ctx):
    buf = create_handler("buffer", {"max_events": 1}, ctx)
    buf.on_event(TextDelta(STEP, "a"))
    buf.on_event(TextDelta(STEP, "b"))
    buf.clear()
    assert len(buf) == 0 and buf.complete


def test_bad_options_fail_at_load_time():
    with pytest.raises(ValidationError, match="max_events"):
        validate_options("buffer", {"max_events": 0})
    with pytest.raises(ValidationError, match="size"):
        validate_options("buffer", {"size": 10})
