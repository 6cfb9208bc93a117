"""Files a run writes: one writer at a time, never through a symlink, never half-written.

- `open_exclusive` opens a file for writing under an advisory lock (flock) held until it
  is closed. A second run writing the same `output_to_file` or checkpoint at the same time
  is refused with `FileInUse` instead of mixing its text into the first run's.
- `open_exclusive` also refuses a symlink as the file itself (O_NOFOLLOW), and
  `inside(root, relative)` refuses a path whose folders lead out of `root`.
- `write_atomic` writes through a temporary file beside the target and renames it; on any
  error (a full disk) the temporary file is removed and `WriteFailed` says what happened.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from rillet.errors import RilletError

try:
    import fcntl
except ImportError:  # Windows: no flock; files are written unlocked there
    fcntl = None  # type: ignore[assignment]


class FileInUse(RilletError):
    """Another run holds the file."""


class WriteFailed(RilletError):
    """A file could not be written (a full disk, a read-only folder, a symlink)."""


class UnsafePath(RilletError, ValueError):
    """A path that would write outside the folder it belongs in."""


def inside(root: Path, relative: str | Path) -> Path:
    """`root / relative`, refused when it is absolute, uses `..`, or its existing folders
    resolve (through symlinks) to somewhere outside `root`."""
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts or not candidate.parts:
        raise UnsafePath(f"output path '{relative}' must be relative and stay inside the "
                         f"output directory")
    path = root / candidate
    if not path.parent.resolve().is_relative_to(root.resolve()):
        raise UnsafePath(f"output path '{relative}' leads out of the output directory "
                         f"{root} through a symlink; refused")
    return path


def open_exclusive(path: Path, *, what: str, truncate: bool = True) -> IO[str]:
    """`path` opened for text writing (created if missing), locked for this process until
    closed; `truncate=False` keeps the content and writes at the end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"{what} {path} is a symlink; rillet does not write through "
                             f"one") from None
        raise WriteFailed(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise FileInUse(f"{what} {path} is being written by another run right now; "
                                f"wait for it to end, or give this run its own output "
                                f"folder") from None
        if truncate:
            os.ftruncate(fd, 0)
        else:
            os.lseek(fd, 0, os.SEEK_END)
        return os.fdopen(fd, "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def write_atomic(path: Path, write: Callable[[IO[str]], Any], *, what: str) -> Path:
    """Write `path` whole or not at all: `write(file)` fills a temporary file that then
    replaces `path`. On failure the temporary file is gone and WriteFailed is raised."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.unlink(missing_ok=True)  # a leftover, or a symlink planted there: never followed
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            write(file)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteFailed(f"cannot write {what} {path}: {exc.strerror or exc}; it was not "
                          f"written") from None
    return path
