"""Reading a prompt's `file` parts: only regular files, only from allowed folders, only so
much, and never on the event loop.

The lookup: a relative path is looked up beside the workflow file first and, when it is not
there, in the folder the run started in (pipeline_ex read prompt files from there, and its
users ran `mix pipeline.run examples/x.yaml` from the repository root).

The read policy: the file (symlinks resolved) must lie inside the workflow file's folder or
inside a folder the workflow lists in `read_paths` or the run allows (`--allow-read DIR`,
`read_paths=` in Python); a file found by the fallback may also lie inside the folder the
run started in, and only such a file (a file beside the workflow that links into the
current folder is still refused). Devices,
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
    cwd: Path | None = None  # where the run started: a root only for the fallback lookup

    @classmethod
    def for_run(cls, base_dir: Path, allowed: Iterable[str | Path] = (),
                max_bytes: int | None = None, cwd: Path | None = None) -> ReadPolicy:
        roots = [base_dir] + [base_dir / Path(p).expanduser() for p in allowed]
        return cls(tuple(Path(r).resolve() for r in roots), max_bytes or MAX_FILE_BYTES,
                   cwd=(cwd or Path.cwd()).resolve())


@dataclass(frozen=True)
class Located:
    """Where a prompt file's path leads: the file to read (or, when none was found, the
    first place looked), whether the fallback found it, and every place looked."""
    path: Path
    from_cwd: bool
    looked: tuple[Path, ...]

    @property
    def found(self) -> bool:
        return self.path.exists()

    def missing_message(self, target: str) -> str:
        places = " nor ".join(str(p) for p in self.looked)
        where = "neither beside the workflow file nor in the current folder" \
            if len(self.looked) > 1 else "at"
        return f"prompt file '{target}' does not exist: looked {where} ({places})"


def locate(target: str, base_dir: Path, cwd: Path | None = None) -> Located:
    """Beside the workflow file first, then in the folder the run started in."""
    path = Path(target).expanduser()
    if path.is_absolute():
        return Located(path, False, (path,))
    beside = base_dir / path
    cwd = cwd or Path.cwd()
    if beside.exists():
        return Located(beside, False, (beside,))
    if base_dir.resolve() == cwd.resolve():  # one place to look
        return Located(beside, False, (beside,))
    fallback = cwd / path
    if fallback.exists():
        return Located(fallback, True, (beside, fallback))
    return Located(beside, False, (beside, fallback))


def made_during_run(path: Path, folders: Iterable[Path]) -> bool:
    """Whether `path` lies in a folder the run's steps write into (the workspace, the
    output folder): such a file may not exist before the run."""
    real = path.resolve()
    return any(real.is_relative_to(Path(folder).resolve()) for folder in folders)


def read_prompt_file(path: Path, policy: ReadPolicy | None, from_cwd: bool = False) -> str:
    """The text of `path` under `policy` (None: only the size and kind limits); `from_cwd`:
    the fallback lookup found it, so the current folder counts as a root too."""
    real = path.resolve()
    roots = policy.roots if policy is not None else ()
    if policy is not None and from_cwd and policy.cwd is not None:
        roots = (*roots, policy.cwd)
    if policy is not None and not any(real.is_relative_to(root) for root in roots):
        raise PromptError(
            f"prompt file '{path}' is outside the workflow's folder {policy.roots[0]}"
            f"{' and the current folder' if from_cwd else ''}; "
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


def run_folders(ctx: Any) -> list[Path]:
    """The folders this run's steps write into: its workspace and output folder, and the
    workspace the workflow names, taken from where the run started."""
    folders = [ctx.workspace_dir, ctx.output_dir]
    policy: ReadPolicy | None = ctx.read_policy
    workflow = getattr(getattr(ctx, "run", ctx), "workflow", None)
    named = getattr(workflow, "workspace_dir", None)
    if named:
        folders.append((policy.cwd if policy and policy.cwd else Path.cwd()) / named)
    return folders


def find(target: str, ctx: Any) -> Located:
    policy: ReadPolicy | None = ctx.read_policy
    return locate(target, ctx.base_dir, policy.cwd if policy is not None else None)


def read_part(target: str, ctx: Any, mock: bool = False) -> tuple[str, str | None]:
    """The text of a `file` part and, for a mock run's stand-in, the warning to record.
    A file in a folder the run writes into may appear only during the run: it is looked
    for when its step runs, and a mock run (whose models write no files) puts a marked
    stand-in in its place."""
    found = find(target, ctx)
    if found.found:
        return read_prompt_file(found.path, ctx.read_policy, found.from_cwd), None
    message = found.missing_message(target)
    made = [p for p in found.looked if made_during_run(p, run_folders(ctx))]
    if made and mock:
        return (f"[mock run: the prompt file {target} does not exist; in a live run an "
                f"earlier step writes it]",
                f"{message}; the mock run used a stand-in, as its models write no files")
    if made:
        message += ("; it lies in a folder the run writes into, and no earlier step "
                    "wrote it")
    raise PromptError(message)


async def prefetch(step: Any, ctx: Any, mock: bool = False) -> list[str]:
    """Read the step's prompt files in a worker thread, within the read timeout, so a
    slow or stuck file never stalls the event loop (other runs, other streams). The texts
    wait in `ctx.prompt_files` for `build_prompt`; the warnings of stand-ins are returned."""
    from rillet.workflow.templates import render

    parts = [part for part in getattr(step, "prompt", None) or ()
             if getattr(part, "type", None) == "file"]
    if not parts:
        return []
    template_ctx = ctx.template_context()
    targets = [render(part.path, template_ctx) for part in parts]
    policy: ReadPolicy | None = ctx.read_policy
    timeout = policy.timeout_s if policy is not None else READ_TIMEOUT_S
    try:
        read = await asyncio.wait_for(asyncio.to_thread(
            lambda: [read_part(target, ctx, mock) for target in targets]), timeout)
    except TimeoutError:
        raise PromptError(f"reading the prompt files {', '.join(targets)} took "
                              f"more than {timeout:g} s; refused") from None
    ctx.prompt_files.update((find(target, ctx).path, text) for target, (text, _) in
                            zip(targets, read))
    return [warning for _, warning in read if warning]
