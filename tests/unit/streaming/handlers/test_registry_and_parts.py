"""The built-ins are registered by name; the shared parts (Batcher, RotatingFile) keep
their promises on the edges the handler tests do not reach."""

from __future__ import annotations

import asyncio

import pytest

from rillet.streaming.handler import handler_names, resolve
from rillet.streaming.handlers import (
    BufferOptions, CallbackOptions, ConsoleOptions, FileOptions, JsonlOptions,
)
from rillet.streaming.handlers._batch import Batcher
from rillet.streaming.handlers._rotating import RotatingFile


def test_every_built_in_is_registered_with_its_options_model():
    assert set(handler_names()) >= {"console", "file", "callback", "buffer", "jsonl"}
    assert resolve("console").options is ConsoleOptions
    assert resolve("file").options is FileOptions
    assert resolve("callback").options is CallbackOptions
    assert resolve("buffer").options is BufferOptions
    assert resolve("jsonl").options is JsonlOptions


def test_options_models_export_a_json_schema_even_with_a_callable_field():
    schema = CallbackOptions.model_json_schema()
    assert schema["properties"]["function"]["type"] == "string"
    assert schema["additionalProperties"] is False


async def test_a_sink_failing_on_the_timer_is_raised_by_the_next_flush():
    def sink(text: str) -> None:
        raise OSError("disk gone")

    batch = Batcher(sink, max_parts=100, interval_s=0)
    batch.add("x")
    for _ in range(3):
        await asyncio.sleep(0)
    assert batch.parts == []
    with pytest.raises(OSError, match="disk gone"):
        batch.flush()
    batch.flush()  # raised once: the handler was detached by then


def test_rotation_without_backups_starts_the_file_afresh(tmp_path):
    path = tmp_path / "log.txt"
    file = RotatingFile(path, max_bytes=4, backups=0)
    file.write("abcdefghij", split=True)
    file.close()
    assert path.read_text() == "ij" and list(tmp_path.iterdir()) == [path]
    assert file.rotations == 2


def test_a_character_wider_than_the_limit_goes_alone(tmp_path):
    path = tmp_path / "log.txt"
    file = RotatingFile(path, max_bytes=1, backups=5)
    file.write("aé", split=True)
    file.close()
    assert path.read_text() == "é" and (tmp_path / "log.txt.1").read_text() == "a"


def test_writing_after_close_says_so(tmp_path):
    file = RotatingFile(tmp_path / "log.txt")
    file.close()
    with pytest.raises(ValueError, match="is closed"):
        file.write("x", split=False)
