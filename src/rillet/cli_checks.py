"""Checks on `rillet` command-line arguments before anything starts: a bad one is one line
naming the option, and exit code 2, never a traceback halfway through a run."""

from __future__ import annotations

from pathlib import Path


class BadArgument(Exception):
    """One line naming the option and what to do."""


def check_arguments(*, output_dir: Path | None = None, workspace_dir: Path | None = None,
                    script: Path | None = None, port: int | None = None) -> None:
    if output_dir is not None and output_dir.exists() and not output_dir.is_dir():
        raise BadArgument(f"--output-dir {output_dir} is a file, not a folder; name a folder "
                          f"(it is created if missing)")
    if workspace_dir is not None:
        try:
            workspace_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadArgument(f"--workspace-dir {workspace_dir} cannot be used: "
                              f"{exc.strerror or exc}") from None
    if script is not None and not script.is_file():
        raise BadArgument(f"--script {script}: no such file")
    if port is not None and not 0 <= port <= 65535:
        raise BadArgument(f"--port {port} is not a port; use 1-65535 (0 picks a free one)")
