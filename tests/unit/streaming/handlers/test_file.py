"""file: text / json / jsonl under the output directory, batched, rotated, retry-safe."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from handler_streams import STEP, claude_events, retried_events, run_step
from rillet.events import StepStarted, StreamRetry, TextDelta
from rillet.streaming.handler import create_handler, validate_options

TEXT = "Rivers keep time, slowly; the sea keeps none. " * 3


def rotated(path: Path) -> list[Path]:
    """The file and its backups, oldest first."""
    backups = sorted(path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:]))
    return [*backups, path]


async def test_text_file_holds_exactly_the_steps_text(ctx):
    handler = create_handler("file", {}, ctx)
    result, warnings = await run_step([handler], claude_events(text=TEXT))
    path = ctx.output_dir / "draft.txt"
    assert warnings == []
    assert path.read_text(encoding="utf-8") == result.text == TEXT


async def test_path_placeholders_fill_in_run_and_step(ctx):
    handler = create_handler("file", {"path": "runs/{run_id}/{step}.md"}, ctx)
    await run_step([handler], claude_events(text="hello"))
    assert (ctx.output_dir / "runs" / "run-1" / "draft.md").read_text() == "hello"


@pytest.mark.parametrize("path, message", [
    ("/etc/passwd", "must be relative"),
    ("../escape.txt", "must be relative"),
    ("a/../../b.txt", "must be relative"),
    ("{stepname}.txt", "unknown placeholder {stepname}"),
])
def test_paths_that_leave_the_output_directory_fail_at_load_time(path, message):
    with pytest.raises(ValidationError, match=message):
        validate_options("file", {"path": path})


async def test_after_a_retry_the_text_file_holds_the_text_once(ctx):
    handler = create_handler("file", {"buffer_size": 1}, ctx)  # void text reached the disk
    result, _ = await run_step([handler], retried_events(TEXT, 5))
    assert (ctx.output_dir / "draft.txt").read_text() == result.text == TEXT


async def test_a_retry_undoes_the_rotations_of_the_void_attempt(ctx):
    path = ctx.output_dir / "draft.txt"
    path.parent.mkdir(parents=True)
    (path.parent / "draft.txt.1").write_text("OLDER RUN")  # a backup from before
    handler = create_handler("file", {"buffer_size": 1, "max_bytes": 16, "backups": 20}, ctx)
    void_deltas = 12  # enough to rotate a few times before the retry
    result, _ = await run_step([handler], retried_events(TEXT, void_deltas))
    files = rotated(path)
    assert files[0].read_text() == "OLDER RUN"  # kept, and still the oldest
    assert "".join(p.read_text() for p in files[1:]) == result.text


async def test_rotation_keeps_each_file_within_max_bytes_and_drops_the_oldest(ctx):
    text = "é" * 7 + "abcdefghij" * 3  # multi-byte characters are never cut in half
    handler = create_handler("file", {"max_bytes": 10, "backups": 2}, ctx)
    await run_step([handler], claude_events(text=text))
    files = rotated(ctx.output_dir / "draft.txt")
    assert [p.name for p in files] == ["draft.txt.2", "draft.txt.1", "draft.txt"]
    assert all(len(p.read_bytes()) <= 10 for p in files)
    kept = "".join(p.read_text(encoding="utf-8") for p in files)
    assert text.endswith(kept) and len(kept) >= 20


async def test_batches_follow_stream_buffer_size_and_the_option_overrides_it(ctx):
    sized = replace(ctx, buffer_size=3)
    handler = create_handler("file", {"flush_interval_ms": 60_000}, sized)
    path = ctx.output_dir / "draft.txt"
    handler.on_event(TextDelta(STEP, "a"))
    handler.on_event(TextDelta(STEP, "b"))
    assert path.read_text() == ""
    handler.on_event(TextDelta(STEP, "c"))
    assert path.read_text() == "abc"
    handler.close()

    other = replace(sized, step="other")
    handler = create_handler("file", {"buffer_size": 1}, other)
    handler.on_event(TextDelta("other", "x"))
    assert (ctx.output_dir / "other.txt").read_text() == "x"
    handler.close()


async def test_text_held_in_a_batch_is_written_on_close_and_on_error(ctx):
    handler = create_handler("file", {"buffer_size": 1000, "flush_interval_ms": 60_000}, ctx)
    handler.on_event(TextDelta(STEP, "not lost"))
    handler.close()
    assert (ctx.output_dir / "draft.txt").read_text() == "not lost"

    failing = replace(ctx, step="broken")
    handler = create_handler("file", {"buffer_size": 1000, "flush_interval_ms": 60_000},
                             failing)
    partial, _ = await run_step([handler], claude_events("broken", text=TEXT),
                                step="broken", fail_after=6)
    assert partial.status == "failed" and partial.text
    assert (ctx.output_dir / "broken.txt").read_text() == partial.text


async def test_json_is_one_document_written_at_the_end(ctx):
    handler = create_handler("file", {"format": "json"}, ctx)
    result, _ = await run_step([handler], claude_events(text=TEXT))
    document = json.loads((ctx.output_dir / "draft.json").read_text())
    assert document["run_id"] == "run-1" and document["step"] == STEP
    assert document["status"] == "completed" and document["text"] == TEXT
    assert document["metrics"]["output_tokens"] == result.output_tokens > 0
    assert document["metrics"]["ttft_s"] is not None


async def test_json_of_a_failed_step_keeps_the_partial_text_and_the_error(ctx):
    handler = create_handler("file", {"format": "json"}, ctx)
    partial, _ = await run_step([handler], claude_events(text=TEXT), fail_after=5)
    document = json.loads((ctx.output_dir / "draft.json").read_text())
    assert document["status"] == "failed" and document["text"] == partial.text != ""
    assert "connection reset by peer" in document["error"]


def test_json_closed_before_the_step_ended_says_so(ctx):
    handler = create_handler("file", {"format": "json"}, ctx)
    handler.on_event(TextDelta(STEP, "void"))
    handler.on_event(StreamRetry(STEP, 1, "again"))
    handler.on_event(TextDelta(STEP, "kept"))
    handler.close()
    document = json.loads((ctx.output_dir / "draft.json").read_text())
    assert document["status"] == "incomplete" and document["text"] == "kept"


def test_json_cannot_rotate():
    with pytest.raises(ValidationError, match="max_bytes rotates text and jsonl"):
        validate_options("file", {"format": "json", "max_bytes": 1000})


async def test_jsonl_logs_every_event_with_its_time_since_the_step_started(ctx):
    handler = create_handler("file", {"format": "jsonl"}, ctx)
    events = claude_events(text='She said "hi"\nand left.')
    await run_step([handler], events)
    lines = [json.loads(line) for line in
             (ctx.output_dir / "draft.jsonl").read_text().splitlines()]
    types = [line["type"] for line in lines]
    assert types == ["StepStarted", *[type(e).__name__ for e in events], "StepCompleted"]
    assert lines[0]["t"] == 0.0
    assert all(a["t"] <= b["t"] for a, b in zip(lines, lines[1:]))
    text = "".join(line["text"] for line in lines if line["type"] == "TextDelta")
    assert text == 'She said "hi"\nand left.'


async def test_jsonl_rotation_never_splits_a_line(ctx):
    text = TEXT + "a line\u2028separator, kept raw by JSON"
    handler = create_handler("file", {"format": "jsonl", "max_bytes": 200, "backups": 50},
                             ctx)
    await run_step([handler], claude_events(text=text))
    files = rotated(ctx.output_dir / "draft.jsonl")
    assert len(files) > 3
    records = [json.loads(line) for p in files
               for line in p.read_text(encoding="utf-8").split("\n")[:-1]]
    assert records[0]["type"] == "StepStarted" and records[-1]["type"] == "StepCompleted"
    assert "".join(r["text"] for r in records if r["type"] == "TextDelta") == text


async def test_a_failing_disk_detaches_the_handler_and_the_step_keeps_its_text(ctx):
    handler = create_handler("file", {"buffer_size": 2}, ctx)
    handler._file._file.close()
    handler._file._file = open("/dev/full", "w", encoding="utf-8")  # every write: disk full
    result, warnings = await run_step([handler], claude_events(text=TEXT))
    assert result.text == TEXT and result.status == "completed"
    assert len(warnings) == 1 and "'file' failed" in warnings[0]
    assert "No space left on device" in warnings[0]


def test_unknown_options_fail_at_load_time():
    with pytest.raises(ValidationError, match="rotate_bytes"):
        validate_options("file", {"rotate_bytes": 10})
    with pytest.raises(ValidationError, match="format"):
        validate_options("file", {"format": "yaml"})


def test_a_handler_file_is_never_written_through_a_symlink(ctx, tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    ctx.output_dir.mkdir(parents=True)
    os.symlink(outside, ctx.output_dir / "draft.txt")
    with pytest.raises(ValueError, match="symlink"):
        create_handler("file", {}, ctx)
    assert outside.read_text() == "keep me"


def test_step_names_cannot_reach_outside_through_the_path(ctx):
    handler = create_handler("file", {}, replace(ctx, step="../../etc/x"))
    handler.on_event(StepStarted("../../etc/x", "claude"))
    handler.close()
    assert handler.path.parent == ctx.output_dir
    assert handler.path.name == ".._.._etc_x.txt"
