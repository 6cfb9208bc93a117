"""`type: file_ops`: copy, move, delete, list, validate and convert (csv / json / yaml)
inside the workspace directory, and pipeline_ex's stream_copy (a copy in chunks) and
stream_process (each line of a file through a processor, in place).

Every path is relative to the workspace and must stay in it once resolved: an absolute
path, `..`, or a symlink that leads out is refused before anything is touched.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from rillet.engine.context import RunContext
from rillet.errors import RilletError
from rillet.result import StepResult
from rillet.workflow.templates import render


class FileOpsError(RilletError):
    """A file operation that cannot be done, or would leave the workspace."""


def run(step: Any, ctx: RunContext) -> StepResult:
    workspace = ctx.workspace_dir.resolve()
    template_ctx = ctx.template_context()

    def inside(value: str) -> Path:
        return workspace_path(workspace, render(value, template_ctx))

    try:
        outcome = _OPERATIONS[step.operation](step, inside, workspace)
    except OSError as exc:
        raise FileOpsError(f"{step.operation}: {exc.strerror or exc}"
                           + (f": {exc.filename}" if exc.filename else "")) from None
    return StepResult(step=step.name, text=json.dumps({"operation": step.operation, **outcome,
                                                       "status": "completed"},
                                                      ensure_ascii=False))


def workspace_path(workspace: Path, relative: str) -> Path:
    """`relative` inside `workspace` (already resolved), or FileOpsError."""
    if not relative.strip() or "\x00" in relative:
        raise FileOpsError(f"path {relative!r} is empty or invalid")
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise FileOpsError(f"path '{relative}' must be relative to the workspace and stay "
                           f"inside it (no leading / and no ..)")
    path = workspace / candidate
    if not path.resolve().is_relative_to(workspace):
        raise FileOpsError(f"path '{relative}' leads out of the workspace (through a symlink)")
    return path


def _not_the_workspace(path: Path, workspace: Path, operation: str) -> None:
    if path.resolve() == workspace:
        raise FileOpsError(f"{operation}: cannot {operation} the workspace itself")


def _shown(path: Path, workspace: Path) -> str:
    return path.relative_to(workspace).as_posix()


def _copy(step: Any, inside: Any, workspace: Path) -> dict[str, Any]:
    source, destination = inside(step.source), inside(step.destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        _no_links_out(source, workspace)
        shutil.copytree(source, destination, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(source, destination)
    return {"source": _shown(source, workspace), "destination": _shown(destination, workspace)}


def _move(step: Any, inside: Any, workspace: Path) -> dict[str, Any]:
    source, destination = inside(step.source), inside(step.destination)
    _not_the_workspace(source, workspace, "move")
    if not source.exists() and not source.is_symlink():
        raise FileOpsError(f"move: '{step.source}' does not exist")
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(source, destination)
    return {"source": _shown(source, workspace), "destination": _shown(destination, workspace)}


def _delete(step: Any, inside: Any, workspace: Path) -> dict[str, Any]:
    path = inside(step.path)
    _not_the_workspace(path, workspace, "delete")
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return {"path": _shown(path, workspace)}


def _list(step: Any, inside: Any, workspace: Path) -> dict[str, Any]:
    folder = inside(step.path)
    if not folder.is_dir():
        raise FileOpsError(f"list: '{step.path}' is not a folder in the workspace")
    pattern = step.pattern or "*"
    if ".." in Path(pattern).parts or Path(pattern).is_absolute():
        raise FileOpsError(f"list: pattern '{pattern}' must stay inside the folder")
    files = sorted(_shown(p, workspace) for p in folder.glob(pattern)
                   if p.resolve().is_relative_to(workspace))
    return {"path": _shown(folder, workspace), "pattern": step.pattern, "files": files,
            "count": len(files)}


def _validate(step: Any, inside: Any, workspace: Path) -> dict[str, Any]:
    results, failed = [], []
    for check in step.files:
        path = inside(check.path)
        problem = _file_problem(path, check)
        results.append({"path": check.path, "status": "invalid" if problem else "valid",
                        **({"error": problem} if problem else {})})
        if problem:
            failed.append(f"{check.path}: {problem}")
    if failed:
        raise FileOpsError(f"validate: {len(failed)} of {len(results)} file(s) failed: "
                           + "; ".join(failed))
    return {"results": results}


def _file_problem(path: Path, check: Any) -> str | None:
    if not path.exists():
        return "does not exist" if check.must_exist else None
    if check.must_be_file and not path.is_file():
        return "is not a file"
    if check.must_be_dir and not path.is_dir():
        return "is not a folder"
    if path.is_file():
        size = path.stat().st_size
        if check.min_size is not None and size < check.min_size:
            return f"too small: {size} < {check.min_size} bytes"
        if check.max_size is not None and size > check.max_size:
            return f"too large: {size} > {check.max_size} bytes"
    return None


def _convert(step: Any, inside: Any, workspace: Path) -> dict[str, Any]:
    source, destination = inside(step.source), inside(step.destination)
    reader, _, writer = step.format.partition("_to_")
    text = source.read_text(encoding="utf-8")
    try:
        data = _READERS[reader](text)
        out = _WRITERS[writer](data)
    except (ValueError, yaml.YAMLError, csv.Error) as exc:
        raise FileOpsError(f"convert {step.format}: '{step.source}' cannot be read as "
                           f"{reader}: {exc}") from None
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(out, encoding="utf-8")
    return {"source": _shown(source, workspace), "destination": _shown(destination, workspace),
            "format": step.format}


def _no_links_out(folder: Path, workspace: Path) -> None:
    for entry in folder.rglob("*"):
        if entry.is_symlink() and not entry.resolve().is_relative_to(workspace):
            raise FileOpsError(f"copy: '{_shown(entry, workspace)}' is a symlink out of the "
                               f"workspace")


def _rows(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise ValueError("CSV needs a list of mappings (one per row)")
    return data


def _write_csv(data: Any) -> str:
    rows = _rows(data)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v
                         for k, v in row.items()})
    return buffer.getvalue()


_READERS = {
    "csv": lambda text: list(csv.DictReader(io.StringIO(text))),
    "json": json.loads,
    "yaml": yaml.safe_load,
}
_WRITERS = {
    "csv": _write_csv,
    "json": lambda data: json.dumps(data, ensure_ascii=False, indent=2) + "\n",
    "yaml": lambda data: yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
}
def _stream_copy(step: Any, inside: Any, workspace: Path) -> dict[str, Any]:
    """A copy read and written in chunks, so a file of any size takes little memory."""
    source, destination = inside(step.source), inside(step.destination)
    if not source.is_file():
        raise FileOpsError(f"stream_copy: '{step.source}' is not a file in the workspace")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as reader, destination.open("wb") as writer:
        shutil.copyfileobj(reader, writer, STREAM_CHUNK_BYTES)
    return {"source": _shown(source, workspace), "destination": _shown(destination, workspace),
            "method": "streaming", "bytes": destination.stat().st_size}


def _stream_process(step: Any, inside: Any, workspace: Path) -> dict[str, Any]:
    """Each line of the file through the processor, written to a file beside it that then
    replaces it (as pipeline_ex did): one line in memory at a time."""
    source = inside(step.source)
    if not source.is_file():
        raise FileOpsError(f"stream_process: '{step.source}' is not a file in the workspace")
    change = _line_processor(step)
    partial = source.with_name(source.name + ".rillet-tmp")
    lines = 0
    try:
        with source.open(encoding="utf-8", newline="") as reader,                 partial.open("w", encoding="utf-8", newline="") as writer:
            for line in reader:
                writer.write(change(line))
                lines += 1
        os.replace(partial, source)
    finally:
        partial.unlink(missing_ok=True)
    return {"source": _shown(source, workspace), "processor": step.processor,
            "lines": lines, "method": "streaming"}


def _line_processor(step: Any) -> Any:
    if step.processor == "uppercase":
        return str.upper
    if step.processor == "lowercase":
        return str.lower
    if step.processor == "trim":
        return lambda line: line.strip() + "\n"
    if step.processor == "replace":
        return lambda line: line.replace(step.pattern, step.replacement)
    return lambda line: line  # identity


STREAM_CHUNK_BYTES = 64 * 1024

_OPERATIONS = {"copy": _copy, "move": _move, "delete": _delete, "list": _list,
               "validate": _validate, "convert": _convert, "stream_copy": _stream_copy,
               "stream_process": _stream_process}
