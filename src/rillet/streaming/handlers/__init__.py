"""The built-in stream handlers, registered by name for `stream_handler:` in YAML.

console · file · callback · buffer · jsonl — one module each; each declares its options
model (unknown or invalid `stream_handler_opts` fail when the workflow loads). `simple`
and `debug` (pipeline_ex's names) are the console with other defaults.
"""

from __future__ import annotations

from rillet.streaming.handler import register_handler
from rillet.streaming.handlers.buffer import (
    BufferHandler, BufferOptions, buffers, clear_buffers, get_buffer,
)
from rillet.streaming.handlers.callback import CallbackHandler, CallbackOptions
from rillet.streaming.handlers.console import ConsoleHandler, ConsoleOptions, make_console
from rillet.streaming.handlers.console_presets import DebugOptions, SimpleOptions
from rillet.streaming.handlers.file import FileHandler, FileOptions, make_file_handler
from rillet.streaming.handlers.jsonl import JsonlHandler, JsonlOptions

register_handler("console", ConsoleOptions, make_console)  # type: ignore[arg-type]
register_handler("simple", SimpleOptions, make_console)  # type: ignore[arg-type]
register_handler("debug", DebugOptions, make_console)  # type: ignore[arg-type]
register_handler("file", FileOptions, make_file_handler)  # type: ignore[arg-type]
register_handler("callback", CallbackOptions, CallbackHandler)  # type: ignore[arg-type]
register_handler("buffer", BufferOptions, BufferHandler)  # type: ignore[arg-type]
register_handler("jsonl", JsonlOptions, JsonlHandler)  # type: ignore[arg-type]

__all__ = [
    "BufferHandler", "BufferOptions", "CallbackHandler", "CallbackOptions", "ConsoleHandler",
    "ConsoleOptions", "FileHandler", "FileOptions", "JsonlHandler", "JsonlOptions", "buffers",
    "clear_buffers", "get_buffer",
]
