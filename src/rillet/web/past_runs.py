"""Past runs in the output directory, from their event logs (`<run id>/events.jsonl`),
and their events read back for a replay. Plain blocking file reads: the server calls them
in a worker thread."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rillet.engine.event_log import FILE_NAME

MAX_LISTED = 50
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TAIL_BYTES = 16_384
_ENDINGS = ("PipelineCompleted", "PipelineFailed")


def list_runs(output_dir: Path) -> list[dict[str, Any]]:
    """The newest runs first: id, workflow, status, duration and when its log was last
    written (`updated`, seconds since the epoch)."""
    if not output_dir.is_dir():
        return []
    logs = sorted((p / FILE_NAME for p in output_dir.iterdir()
                   if _RUN_ID.fullmatch(p.name) and (p / FILE_NAME).is_file()),
                  key=lambda log: log.stat().st_mtime, reverse=True)
    return [run for log in logs[:MAX_LISTED] if (run := _describe(log)) is not None]


def _describe(log: Path) -> dict[str, Any] | None:
    with log.open("rb") as file:
        first = _json(file.readline())
        size = log.stat().st_size
        file.seek(max(0, size - _TAIL_BYTES))
        last = next((e for line in reversed(file.read().splitlines())
                     if (e := _json(line)) is not None and e.get("type") in _ENDINGS), None)
    if first is None or first.get("type") != "PipelineStarted":
        return None
    run = {"run_id": log.parent.name, "workflow": first.get("workflow"),
           "steps": first.get("steps"), "updated": log.stat().st_mtime,
           "status": "unfinished",
           "duration_s": last.get("duration_s", last.get("t")) if last else None}
    if last is not None:
        run["status"] = ("completed" if last["type"] == "PipelineCompleted" else
                         "cancelled" if last.get("cancelled") else "failed")
    return run


def log_path(output_dir: Path, run_id: str) -> Path | None:
    """The event log of that run, if the id names one (never a path outside the folder)."""
    if not _RUN_ID.fullmatch(run_id):
        return None
    path = output_dir / run_id / FILE_NAME
    return path if path.is_file() else None


def read_events(path: Path, offset: int, size: int = 65_536) -> tuple[list[dict[str, Any]], int]:
    """The events of the whole lines from `offset` on (about `size` bytes of them) and the
    offset after them: the same offset at the end of the file."""
    with path.open("rb") as file:
        file.seek(offset)
        chunk = file.read(size)
        if len(chunk) == size:  # finish the last line
            chunk += file.readline()
    events = [e for e in _lines(chunk) if e is not None]
    return events, offset + len(chunk)


def _lines(chunk: bytes) -> Iterator[dict[str, Any] | None]:
    for line in chunk.splitlines():
        yield _json(line)


def _json(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None  # a line cut short by a crash
    return value if isinstance(value, dict) else None
