"""Deltas per second through each built-in handler (a measurement, not a test).

    .venv/bin/python tests/unit/streaming/handlers/measure_throughput.py [--deltas N]

1. Flush policies for console text to a pipe (a `cat > /dev/null` child) and to a
   pseudo-terminal (a thread reads the other end, as a terminal would): a write and a
   flush per delta, a write per delta left to Python's buffer, and the Batcher.
2. Each handler's on_event for N TextDeltas, driven two ways: a tight loop (the producer
   never yields) and an async producer that yields to the event loop every 8 deltas (as a
   provider does between network chunks), so loop timers run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from rillet.events import StepStarted, TextDelta
from rillet.streaming.handler import HandlerContext, create_handler
from rillet.streaming.handlers._batch import Batcher


def pipe_to_cat() -> tuple[subprocess.Popen[bytes], io.TextIOWrapper]:
    child = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert child.stdin is not None
    return child, io.TextIOWrapper(child.stdin, encoding="utf-8")


class PseudoTerminal:
    """A pty whose far end is drained by a thread; `stream` is the terminal side."""

    def __init__(self) -> None:
        self._master, slave = os.openpty()
        self.stream = open(slave, "w", encoding="utf-8", closefd=True)  # noqa: SIM115
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        try:
            while os.read(self._master, 65536):
                pass
        except OSError:  # EIO once the terminal side is closed
            pass

    def close(self) -> None:
        self.stream.close()
        self._reader.join()
        os.close(self._master)


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f} deltas/s"


def measure_policies(deltas: list[str]) -> None:
    print(f"-- console text to a pipe, {len(deltas):,} deltas")

    child, out = pipe_to_cat()
    started = time.perf_counter()
    for text in deltas:
        out.write(text)
        out.flush()
    print(f"write + flush per delta      {rate(len(deltas), time.perf_counter() - started)}")
    out.close(), child.wait()

    child, out = pipe_to_cat()
    started = time.perf_counter()
    for text in deltas:
        out.write(text)
    out.flush()
    print(f"write per delta, no flush    {rate(len(deltas), time.perf_counter() - started)}"
          "   (not live: text waits in an 8 KB buffer)")
    out.close(), child.wait()

    async def batched() -> float:
        child, out = pipe_to_cat()

        def sink(text: str) -> None:
            out.write(text)
            out.flush()

        batch = Batcher(sink, max_parts=1024, interval_s=0.016)
        started = time.perf_counter()
        for index, text in enumerate(deltas):
            batch.add(text)
            if index % 8 == 7:
                await asyncio.sleep(0)
        batch.flush()
        elapsed = time.perf_counter() - started
        out.close(), child.wait()
        return elapsed

    print(f"Batcher (16 ms, yields /8)   {rate(len(deltas), asyncio.run(batched()))}")

    print(f"-- console text to a pseudo-terminal, {len(deltas):,} deltas")
    tty = PseudoTerminal()
    started = time.perf_counter()
    for text in deltas:
        tty.stream.write(text)
        tty.stream.flush()
    print(f"write + flush per delta      {rate(len(deltas), time.perf_counter() - started)}")
    tty.close()

    async def batched_tty() -> float:
        tty = PseudoTerminal()

        def sink(text: str) -> None:
            tty.stream.write(text)
            tty.stream.flush()

        batch = Batcher(sink, max_parts=1024, interval_s=0.016)
        started = time.perf_counter()
        for index, text in enumerate(deltas):
            batch.add(text)
            if index % 8 == 7:
                await asyncio.sleep(0)
        batch.flush()
        elapsed = time.perf_counter() - started
        tty.close()
        return elapsed

    print(f"Batcher (16 ms, yields /8)   {rate(len(deltas), asyncio.run(batched_tty()))}")


def measure_handlers(deltas: list[str]) -> None:
    print(f"-- handlers, {len(deltas):,} TextDeltas each")
    events = [TextDelta("step", text) for text in deltas]
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("console (pipe)", "console", {}),
            ("file text", "file", {}),
            ("file jsonl", "file", {"format": "jsonl"}),
            ("file json", "file", {"format": "json"}),
            ("file text, rotating 1 MB", "file", {"max_bytes": 1_000_000}),
            ("callback (sync)", "callback", {"function": lambda event: None}),
            ("callback (20/s limit)", "callback",
             {"function": lambda event: None, "max_calls_per_s": 20}),
            ("callback (async)", "callback", {"function": _async_noop}),
            ("buffer", "buffer", {"keep": False}),
            ("buffer (circular, max_bytes)", "buffer",
             {"keep": False, "circular": True, "max_events": 1000, "max_bytes": 100_000}),
            ("jsonl", "jsonl", {}),
        ]
        for label, name, opts in cases:
            tight = _run(name, opts, events, Path(tmp), yield_every=0)
            yielding = _run(name, opts, events, Path(tmp), yield_every=8)
            print(f"{label:30} tight {rate(len(events), tight)}"
                  f"   yielding {rate(len(events), yielding)}")


async def _async_noop(event: object) -> None:
    return None


def _run(name: str, opts: dict, events: list[TextDelta], tmp: Path, *,
         yield_every: int) -> float:
    async def drive() -> float:
        child, out = pipe_to_cat()
        ctx = HandlerContext(step="step", run_id="bench", output_dir=tmp, stdout=out)
        handler = create_handler(name, opts, ctx)
        on_event = handler.on_event
        on_event(StepStarted("step", "claude"))
        started = time.perf_counter()
        if yield_every:
            for index, event in enumerate(events):
                on_event(event)
                if index % yield_every == 0:
                    await asyncio.sleep(0)
        else:
            for event in events:
                on_event(event)
        drain = getattr(handler, "drain", None)
        if drain is not None:
            await drain()
        handler.close()
        elapsed = time.perf_counter() - started
        out.close(), child.wait()
        return elapsed

    return asyncio.run(drive())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deltas", type=int, default=200_000)
    count = parser.parse_args().deltas
    words = ["Hello", " world", ",", " the", " [quick]", " brown", " fox", "\n", " jumps", " é"]
    deltas = [words[i % len(words)] for i in range(count)]
    measure_policies(deltas)
    measure_handlers(deltas)


if __name__ == "__main__":
    main()
