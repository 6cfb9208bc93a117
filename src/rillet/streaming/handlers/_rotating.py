"""A text file that rotates by size: `name` is the newest, `name.1` the one before, ….

Sizes are counted in UTF-8 bytes. Text may be split across files (at a character
boundary) so every file stays within max_bytes; lines (JSON records) are never split, so
a single line longer than max_bytes gets a file of its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from rillet.safe_files import open_exclusive


class RotatingFile:
    def __init__(self, path: Path, *, max_bytes: int | None = None, backups: int = 0):
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.size = 0
        self.rotations = 0  # made by this writer; undone by reset()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = open_exclusive(path, what="the handler file")

    @property
    def closed(self) -> bool:
        return self._file is None

    def write(self, text: str, *, split: bool) -> None:
        """Write and flush. `split`: text may be cut between files (else whole lines)."""
        file = self._file
        if file is None:
            raise ValueError(f"{self.path} is closed")
        limit = self.max_bytes
        if limit is None:
            file.write(text)
            file.flush()
            return
        data = text.encode("utf-8")
        if not split:
            if self.size and self.size + len(data) > limit:
                self._rotate()
            self._put(text, len(data))
            return
        while data:
            room = limit - self.size
            if len(data) <= room:
                self._put(text, len(data))
                return
            # The longest prefix that fits, cut at a character boundary.
            head = data[:room].decode("utf-8", "ignore") if room > 0 else ""
            if not head and self.size == 0:
                head = text[0]  # one character wider than the whole limit: it goes alone
            if head:
                head_bytes = len(head.encode("utf-8"))
                self._put(head, head_bytes)
                text, data = text[len(head):], data[head_bytes:]
            if data:
                self._rotate()

    def _put(self, text: str, size: int) -> None:
        file = self._file
        assert file is not None
        file.write(text)
        file.flush()
        self.size += size

    def _backup(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        if self.backups:
            for index in range(self.backups - 1, 0, -1):
                older = self._backup(index)
                if older.exists():
                    os.replace(older, self._backup(index + 1))
            os.replace(self.path, self._backup(1))
        self.rotations += 1
        self._file = open_exclusive(self.path, what="the handler file")
        self.size = 0

    def reset(self) -> None:
        """Everything this writer wrote is void (a StreamRetry): remove the backups it
        made, move older ones back to where they were, and start the file afresh."""
        if self._file is None:
            return
        self._file.close()
        made = min(self.rotations, self.backups)
        for index in range(1, made + 1):
            self._backup(index).unlink(missing_ok=True)
        for index in range(1, self.backups - made + 1):
            older = self._backup(index + made)
            if older.exists():
                os.replace(older, self._backup(index))
        self.rotations = 0
        self.size = 0
        self._file = open_exclusive(self.path, what="the handler file")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
