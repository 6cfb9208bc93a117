"""Which backend a model step talks to: the in-process mock, the local simulator, or live.

`mixed` (the default) lets each step choose with its own `mode:`; a step that does not
choose runs live when credentials for its provider exist and on the simulator otherwise.
The other run modes force every step.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from rillet.engine.context import RUN_MODES


def default_run_mode() -> str:
    mode = os.environ.get("TEST_MODE", "").strip().lower()
    return mode if mode in RUN_MODES else "mixed"


def step_mode(run_mode: str, step_choice: str | None, provider_kind: str) -> str:
    if run_mode != "mixed":
        return run_mode
    if step_choice:
        return step_choice
    from rillet.providers.registry import has_credentials

    return "live" if has_credentials(provider_kind) else "sim"


def providers_used(workflow: Any, run_mode: str) -> list[tuple[str, str, str | None]]:
    """(provider kind, mode, the step's own `mode:`) of every model step, nested ones
    included, in order and without repeats: what a run of `workflow` will talk to."""
    from rillet.steps import MODEL_STEPS

    seen: dict[tuple[str, str, str | None], None] = {}
    for step in _all_steps(getattr(workflow, "steps", [])):
        module = MODEL_STEPS.get(getattr(step, "type", None))
        if module is None:
            continue
        kind = module.provider_kind(step)
        choice = getattr(step, "mode", None)
        seen[(kind, step_mode(run_mode, choice, kind), choice)] = None
    return list(seen)


def _all_steps(steps: Any) -> Iterator[Any]:
    for step in steps or []:
        yield step
        child_lists = getattr(step, "child_lists", None)  # a container's children
        for _, children in (child_lists() if child_lists else []):
            yield from _all_steps(children)
