"""Pieces several handlers share: event type names in options, output paths, JSON lines."""

from __future__ import annotations

import difflib
import json
from json.encoder import encode_basestring
from pathlib import Path
from string import Formatter
from typing import Any

from rillet import events as _events
from rillet.events import Event, TextDelta, ThinkingDelta, event_to_dict
from rillet.safe_files import inside
from rillet.streaming.handler import HandlerContext

EVENT_TYPES: dict[str, type[Event]] = {
    name: value for name, value in vars(_events).items()
    if isinstance(value, type) and issubclass(value, Event) and value is not Event
}

PATH_FIELDS = ("step", "run_id")


def event_types(names: list[str] | None) -> list[str] | None:
    """Validator for an `events:` option: every name must be an event type."""
    if names is None:
        return None
    for name in names:
        if name not in EVENT_TYPES:
            close = difflib.get_close_matches(name, EVENT_TYPES, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(f"unknown event type '{name}'; {hint}event types: "
                             f"{', '.join(sorted(EVENT_TYPES))}")
    return names


def type_set(names: list[str] | None) -> frozenset[type[Event]] | None:
    return None if names is None else frozenset(EVENT_TYPES[name] for name in names)


def relative_path(template: str | None) -> str | None:
    """Validator for a `path:` option: relative, inside the output directory, and only the
    placeholders {step} and {run_id}."""
    if template is None:
        return None
    for _, field, _, _ in Formatter().parse(template):
        if field is not None and field not in PATH_FIELDS:
            raise ValueError(f"unknown placeholder {{{field}}} in path '{template}'; "
                             f"use {{step}} or {{run_id}}")
    candidate = Path(template)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise ValueError(f"path '{template}' must be relative and stay inside the output "
                         f"directory (no absolute path, no '..')")
    return template


def output_path(template: str, ctx: HandlerContext) -> Path:
    """The file for this step: the template filled in, under ctx.output_dir."""
    # A step name is one path component here, whatever characters it holds.
    step = ctx.step.replace("/", "_").replace("\\", "_")
    filled = Path(template.format(step=step, run_id=ctx.run_id))
    if filled.is_absolute() or ".." in filled.parts:
        raise ValueError(f"path '{filled}' must stay inside the output directory")
    return inside(Path(ctx.output_dir), filled)  # no symlinked folder leading out of it


class EventLine:
    """One event as one JSON line, with `t`: seconds since the step started."""

    __slots__ = ("_step", "_step_json")

    def __init__(self, step: str):
        self._step = step
        self._step_json = encode_basestring(step)

    def __call__(self, event: Event, t: float) -> str:
        kind = type(event)
        if kind is TextDelta or kind is ThinkingDelta:
            # The per-delta path: no dict, the text escaped by the C encoder.
            step = event.step
            step = self._step_json if step == self._step else encode_basestring(step)
            return (f'{{"t":{t:.6f},"type":"{kind.__name__}","step":{step},'
                    f'"text":{encode_basestring(event.text)}}}\n')  # type: ignore[attr-defined]
        data: dict[str, Any] = {"t": round(t, 6)}
        data.update(event_to_dict(event))
        return json.dumps(data, ensure_ascii=False, default=str) + "\n"
