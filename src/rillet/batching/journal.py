"""batch.jsonl: one line per finished item, appended so that a crash loses nothing done.

Each record is written with one `write` of the whole line, then flushed and fsynced, so a
killed batch leaves at most one cut last line; `load` ignores such a line (the item it
was writing was not finished, and runs again on resume).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

NAME = "batch.jsonl"


class Journal:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        self._file = path.open("ab")

    def _repair(self) -> None:
        """Cut a torn last line (a crash mid-write) so the next record starts a line."""
        if not self.path.exists():
            return
        with self.path.open("rb+") as file:
            data = file.read()
            if data and not data.endswith(b"\n"):
                file.truncate(data.rfind(b"\n") + 1)

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str).encode("utf-8") + b"\n"
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def load(path: Path) -> dict[str, dict[str, Any]]:
    """The last record of each item, by item id. Lines that do not parse (a cut last line)
    are skipped."""
    records: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return records
    with path.open(encoding="utf-8", errors="replace") as file:
        for line in file:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("item"), str):
                records[record["item"]] = record
    return records
