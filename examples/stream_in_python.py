"""Stream a workflow's events in your own Python code: `rillet.stream()` yields every
event of the run as it happens (for a web page, a server-sent-events endpoint, a UI).

    python examples/stream_in_python.py                  # the default mode (sim with no key)
    TEST_MODE=mock python examples/stream_in_python.py    # the in-process mock

Here the text goes to stdout as it arrives and a status line follows each step.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import rillet
from rillet.events import PipelineCompleted, StepCompleted, StepFailed, StepStarted, TextDelta

WORKFLOW = Path(__file__).with_name("claude_streaming_advanced.yaml")


async def main(out=sys.stdout) -> int:
    # quiet: the workflow's console handlers stay silent; this loop prints the text.
    # No mode given: $TEST_MODE, else each step live with a key and on the simulator without.
    async for event in rillet.stream(WORKFLOW, quiet=True):
        kind = type(event)
        if kind is StepStarted:
            out.write(f"\n--- {event.step} ({event.step_type}) ---\n")
        elif kind is TextDelta:
            out.write(event.text)
            out.flush()
        elif kind is StepCompleted:
            ttft = event.metrics.get("ttft_s")
            out.write(f"\n[{event.step}: {len(event.text)} characters"
                      + (f", first token after {ttft:.3f} s]\n" if ttft is not None else "]\n"))
        elif kind is StepFailed:
            out.write(f"\n[{event.step} failed: {event.error}]\n")
            return 1
        elif kind is PipelineCompleted:
            out.write(f"\nresults in {event.output_dir}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
