"""jsonl: one JSON line per event, timed from the step's start, optionally filtered."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from pydantic import ValidationError

from handler_streams import STEP, claude_events, retried_events, run_step
from rillet.events import HandlerFailed, StepStarted, TextDelta, event_to_dict
from rillet.streaming.handler import create_handler, validate_options

TEXT = 'A "quoted" line,\nthen é, \\ and a tab\t.'


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_every_event_is_one_line_at_the_default_path(ctx):
    handler = create_handler("jsonl", {}, ctx)
    events = claude_events(text=TEXT, tool_use={"name": "Bash", "input": {"command": "ls"}})
    result, _ = await run_step([handler], events)
    lines = read_lines(ctx.output_dir / "draft.events.jsonl")
    assert [line["type"] for line in lines] == [
        "StepStarted", *[type(e).__name__ for e in events], "StepCompleted"]
    # Each line is the event's own fields (plus t), text escaped exactly.
    for line, event in zip(lines[1:-1], events):
        assert {k: v for k, v in line.items() if k != "t"} == \
            json.loads(json.dumps(event_to_dict(event), default=str))
    assert lines[-1]["text"] == result.text == TEXT


async def test_times_are_seconds_since_the_step_started(ctx):
    handler = create_handler("jsonl", {}, ctx)
    await run_step([handler], claude_events(text=TEXT))
    times = [line["t"] for line in read_lines(ctx.output_dir / "draft.events.jsonl")]
    assert times[0] == 0.0
    assert times == sorted(times) and times[-1] > 0


async def test_events_filter_keeps_only_those_types(ctx):
    handler = create_handler("jsonl", {"events": ["StreamRetry", "StepCompleted"]}, ctx)
    await run_step([handler], retried_events(TEXT, 2))
    lines = read_lines(ctx.output_dir / "draft.events.jsonl")
    assert [line["type"] for line in lines] == ["StreamRetry", "StepCompleted"]
    assert lines[0]["attempt"] == 1 and lines[1]["text"] == TEXT


async def test_path_option_with_placeholders(ctx):
    handler = create_handler("jsonl", {"path": "logs/{run_id}-{step}.jsonl"}, ctx)
    await run_step([handler], claude_events(text="x"))
    assert (ctx.output_dir / "logs" / "run-1-draft.jsonl").exists()


def test_bad_paths_and_types_fail_at_load_time():
    with pytest.raises(ValidationError, match="must be relative"):
        validate_options("jsonl", {"path": "/tmp/x.jsonl"})
    with pytest.raises(ValidationError, match="unknown event type 'Text'"):
        validate_options("jsonl", {"events": ["Text"]})
    with pytest.raises(ValidationError, match="filter"):
        validate_options("jsonl", {"filter": ["TextDelta"]})


def test_lines_are_batched_by_stream_buffer_size(ctx):
    handler = create_handler("jsonl", {"flush_interval_ms": 60_000},
                             replace(ctx, buffer_size=2))
    path = ctx.output_dir / "draft.events.jsonl"
    handler.on_event(StepStarted(STEP, "claude"))
    assert path.read_text() == ""
    handler.on_event(TextDelta(STEP, "a"))
    assert [line["type"] for line in read_lines(path)] == ["StepStarted", "TextDelta"]
    handler.close()


async def test_a_failed_step_is_logged_to_its_end(ctx):
    handler = create_handler("jsonl", {"buffer_size": 1000, "flush_interval_ms": 60_000},
                             ctx)
    partial, _ = await run_step([handler], claude_events(text=TEXT), fail_after=4)
    lines = read_lines(ctx.output_dir / "draft.events.jsonl")
    assert lines[-1]["type"] == "StepFailed"
    assert lines[-1]["partial_text"] == partial.text != ""


def test_events_after_close_are_ignored(ctx):
    handler = create_handler("jsonl", {}, ctx)
    handler.on_event(StepStarted(STEP, "claude"))
    handler.close()
    handler.on_event(HandlerFailed(STEP, "other", "boom"))  # a late detachment notice
    handler.close()
    assert len(read_lines(ctx.output_dir / "draft.events.jsonl")) == 1
