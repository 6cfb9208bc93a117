"""`--unset-names empty`: pipeline_ex's way with a name nothing set, as an opt-in.

rillet stops a run at a template name that is not set (a typo should not become an empty
prompt). pipeline_ex rendered such a name as empty text, and some of its files rely on it
(working_genesis.yaml shows `{{first_step.output}}` as example text inside a prompt). With
this policy a bare name that is not a variable (state, global_vars, inputs) renders as empty
text, also with attributes after it (`{{ first_step.output }}`), and each such name is
reported once: a warning in the run's record, and on stderr unless the run is quiet.
Names under a root (`steps.x`, `inputs.x`, ...) are checked when the workflow loads and are
not affected.
"""

from __future__ import annotations

import threading
from typing import Any, TextIO

from jinja2.runtime import ChainableUndefined

POLICIES = ("error", "empty")
# The template context's key for the policy. It has a space, so no template can name it.
CONTEXT_KEY = "unset names"


class _Blank(ChainableUndefined):
    """An unset name: empty text, and so is every attribute or item of it."""

    __slots__ = ()


def is_blank(value: Any) -> bool:
    return isinstance(value, _Blank)


class EmptyUnsetNames:
    """Renders unset bare names as empty text and warns once per name."""

    def __init__(self, warnings: list[str], stderr: TextIO | None = None):
        self._warnings = warnings
        self._stderr = stderr
        self._seen: set[str] = set()
        self._lock = threading.Lock()  # templates may render from worker threads

    def __call__(self, name: str) -> _Blank:
        with self._lock:
            first = name not in self._seen
            self._seen.add(name)
        if first:
            message = (f"template name '{name}' is not set and was rendered as empty text "
                       f"(--unset-names empty)")
            self._warnings.append(message)
            if self._stderr is not None:
                print(f"warning: {message}", file=self._stderr)
        return _Blank(name=name)


def check_policy(value: str) -> str:
    if value not in POLICIES:
        raise ValueError(f"unset_names must be one of {', '.join(POLICIES)}, not {value!r}")
    return value
