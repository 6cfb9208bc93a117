"""Reading a prompt's `file` parts: only regular files, only from allowed folders, only so
much, and never on the event loop.

The read policy: a relative path is taken from the workflow file's folder, and the file
(symlinks resolved) must lie inside that folder or inside a folder the workflow lists in
`read_paths` or the run allows (`--allow-read DIR`, `read_paths=` in Python). Devices,
FIFOs, sockets and folders are refused (`/dev/zero` would never end, a FIFO would block),
and so is a file larger than the limit (`--max-file-size`, default 10 MB).
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rillet.errors import RilletError

MAX_FILE_BYTES = 10_000_000
READ_TIMEOUT_S = 30.0

class PromptError(RilletError):
    """A step's prompt cannot be assembled (a file, a template, an earlier response)."""


@dataclass(frozen=True)
class ReadPolicy:
    roots: tuple[Path, ...]  # resolved folders prompt files may come from
    max_bytes: int = MAX_FILE_BYTES
    timeout_s: float = READ_TIMEOUT_S

    @classmethod
    def for_run(cls, base_dir: Path, allowed: Iterable[str | Path] = (),
                max_bytes: int | None = None) -> ReadPolicy:
        roots = [base_dir] + [base_dir / Path(p).expanduser() for p in allowed]
        return cls(tuple(Path(r).resolve() for r in roots), max_bytes or MAX_FILE_BYTES)


def read_prompt_file(path: Path, policy: ReadPolicy | None) -> str:
    """The text of `path` under `policy` (None: only the size and kind limits)."""
    real = path.resolve()
    if policy is not None and not any(real.is_relative_to(root) for root in policy.roots):
        raise PromptError(
            f"prompt file '{path}' is outside the workflow's folder {policy.roots[0]}; "
            f"allow its folder with read_paths in the workflow or --allow-read DIR")
    limit = policy.max_bytes if policy is not None else MAX_FILE_BYTES
    try:
        # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) |
                     getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise PromptError(f"prompt file '{path}' cannot be read: "
                              f"{exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PromptError(f"prompt file '{path}' is not a regular file (a folder, "
                                  f"device, FIFO or socket); refused")
        data = file.read(limit + 1)  # procfs files say size 0: count what is read
    if len(data) > limit:
        raise PromptError(f"prompt file '{path}' is larger than {limit:,} bytes, the "
                              f"limit (--max-file-size)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PromptError(f"prompt file '{path}' is not UTF-8 text ({exc.reason} at "
                              f"byte {exc.start})") from None


async def prefetch(step: Any, ctx: Any) -> None:
    """Read the step's prompt files in a worker thread, within the read timeout, so a
    slow or stuck file never stalls the event loop (other runs, other streams). The texts
    wait in `ctx.prompt_files` for `build_prompt`."""
    from rillet.workflow.templates import render

    parts = [part for part in getattr(step, "prompt", None) or ()
             if getattr(part, "type", None) == "file"]
    if not parts:
        return
    template_ctx = ctx.template_context()
    paths = [ctx.resolve(render(part.path, template_ctx)) for part in parts]
    policy: ReadPolicy | None = ctx.read_policy
    timeout = policy.timeout_s if policy is not None else READ_TIMEOUT_S
    try:
        texts = await asyncio.wait_for(asyncio.to_thread(
            lambda: [read_prompt_file(path, policy) for path in paths]), timeout)
    except TimeoutError:
        raise PromptError(f"reading the prompt files {', '.join(map(str, paths))} took "
                              f"more than {timeout:g} s; refused") from None
    ctx.prompt_files.update(zip(paths, texts))
