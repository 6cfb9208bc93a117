"""Which backend a model step talks to: the in-process mock, the local simulator, or live.

`mixed` (the default) lets each step choose with its own `mode:`; a step that does not
choose runs live when credentials for its provider exist and on the simulator otherwise.
The other run modes force every step.
"""

from __future__ import annotations

import os

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
