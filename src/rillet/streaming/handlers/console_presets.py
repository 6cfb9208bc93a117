"""`simple` and `debug`: pipeline_ex's handler names, as the console with other defaults.

pipeline_ex's `simple` printed one clean line per message without the styled header;
its `debug` printed every message whole. Both are the console handler here, so they
take the console's options (any of them can still be set).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from rillet.streaming.handlers.console import ConsoleOptions


class SimpleOptions(ConsoleOptions):
    show_thinking: bool = False
    show_header: bool = False


class DebugOptions(ConsoleOptions):
    preview_chars: int = Field(default=10_000, ge=10, le=10_000)


CONSOLE_HANDLERS = ("console", "simple", "debug")


def verbose_options(handler: str, options: dict[str, Any], verbose: bool) -> dict[str, Any]:
    """A step's `verbose` as console options: tool calls and thinking shown or not. The
    handler's own options win."""
    if handler not in CONSOLE_HANDLERS:
        return options
    return {"show_tools": verbose, "show_thinking": verbose, **options}
