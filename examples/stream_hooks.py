"""Callbacks for examples/stream_to_file_and_callback.yaml.

`on_event` gets every event the `callback` handler lets through. Here it keeps each step's
text as it arrives and prints a summary line on stderr (stdout carries the streamed text)
when the step completes. Keep such a function cheap: it runs once per delta, unless
`max_calls_per_s` in the workflow joins deltas, as it does here, so it runs at most 10
times a second without losing any text.
"""

from __future__ import annotations

import sys

from rillet.events import Event, StepCompleted, TextDelta

received: dict[str, list[str]] = {}  # step -> the pieces of text, as delivered


def on_event(event: Event) -> None:
    if type(event) is TextDelta:
        received.setdefault(event.step, []).append(event.text)
    elif type(event) is StepCompleted:
        pieces = received.get(event.step, [])
        # On a line of its own: the console handler's text may not end with a newline.
        print(f"\n[stream_hooks] {event.step}: {len(event.text.split())} words in "
              f"{len(pieces)} callback calls", file=sys.stderr)
