"""The items of a batch: each JSONL line, CSV row or file of a folder becomes one run's
`inputs`.

A row that cannot become inputs (bad JSON, not an object, a CSV row with too many fields)
is still an item, carrying its error: the batch records it as failed, naming file and line,
and goes on with the others.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rillet.errors import RilletError


@dataclass(frozen=True, slots=True)
class Item:
    """One run of the batch. `id` is stable across runs of the same data (resume keys by
    it): `line-N` for a JSONL or CSV row, the relative path for a file of a folder."""

    id: str
    source: str  # "data.jsonl:3", "docs/a.md": where the item came from, for messages
    inputs: dict[str, Any]
    error: str | None = None


def read_items(path: str | Path) -> list[Item]:
    """The items of a .jsonl / .csv file or a folder. Raises RilletError when the source
    itself cannot be read (missing, unknown kind); a bad row only makes a bad item."""
    source = Path(path)
    if source.is_dir():
        return list(_folder_items(source))
    if not source.is_file():
        raise RilletError(f"--inputs {source}: no such file or folder")
    suffix = source.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return list(_jsonl_items(source))
    if suffix == ".csv":
        return list(_csv_items(source))
    raise RilletError(f"--inputs {source}: expected a .jsonl or .csv file or a folder, "
                      f"not '{suffix or source.name}'")


def _jsonl_items(path: Path) -> Iterator[Item]:
    with path.open(encoding="utf-8", errors="replace") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                value = json.loads(line)
            except ValueError as exc:
                yield Item(f"line-{number}", where, {}, f"{where}: not valid JSON ({exc})")
                continue
            if not isinstance(value, dict):
                yield Item(f"line-{number}", where, {},
                           f"{where}: expected a JSON object of inputs, got "
                           f"{type(value).__name__}")
                continue
            yield Item(f"line-{number}", where, value)


def _csv_items(path: Path) -> Iterator[Item]:
    with path.open(encoding="utf-8", errors="replace", newline="") as file:
        reader = csv.DictReader(file)
        if not reader.fieldnames:
            return
        for row in reader:
            number = reader.line_num
            where = f"{path}:{number}"
            if None in row:  # DictReader's key for the fields past the header's
                yield Item(f"line-{number}", where, {},
                           f"{where}: {len(row[None]) + len(reader.fieldnames)} fields, the "
                           f"header has {len(reader.fieldnames)}")
                continue
            missing = [k for k, v in row.items() if v is None]
            if missing:
                yield Item(f"line-{number}", where, {},
                           f"{where}: no value for column(s) {', '.join(missing)}")
                continue
            yield Item(f"line-{number}", where, dict(row))


def _folder_items(folder: Path) -> Iterator[Item]:
    """One item per file (recursively, hidden files skipped), in name order. Its inputs:
    `file` (the path), `name`, and `content` when the file is UTF-8 text."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        inputs: dict[str, Any] = {"file": str(path), "name": path.name}
        try:
            inputs["content"] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            inputs["content"] = None
        except OSError as exc:
            yield Item(str(relative), str(path), inputs, f"{path}: cannot be read ({exc})")
            continue
        yield Item(relative.as_posix(), str(path), inputs)
