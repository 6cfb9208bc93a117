"""`simple` and `debug`: pipeline_ex's handler names, as the console with other defaults;
and the console detail that `verbose` and `environment.debug_level` ask for.

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


# `workflow.environment.debug_level`: how much the console shows of a step that sets no
# `verbose`. basic: the text; detailed and performance: tool calls, their results and
# thinking too, whole (as `debug` shows them). performance also gets each step's figures
# at the end of the run (rillet.cli_report).
_DETAIL = {
    "basic": {"show_tools": False, "show_thinking": False},
    "detailed": {"show_tools": True, "show_thinking": True, "preview_chars": 10_000},
    "performance": {"show_tools": True, "show_thinking": True, "preview_chars": 10_000},
}


def debug_level_options(handler: str, options: dict[str, Any], level: str) -> dict[str, Any]:
    """The console options of `level`; the handler's own options win."""
    if handler not in CONSOLE_HANDLERS:
        return options
    return {**_DETAIL[level], **options}
