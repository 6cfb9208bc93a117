"""How many items run at once: a window that grows by one per window of successes
(additive increase) and halves on a rate limit (multiplicative decrease), as TCP does.

One `Window` per provider and key (see `provider_keys`): every item of the batch takes a
slot in the window of each provider its workflow calls, so they all share one limit.
"""

from __future__ import annotations

import hashlib
import os
from time import monotonic

from rillet.providers.registry import _CREDENTIAL_ENV  # noqa: PLC2701 - the same env names

RATE_LIMIT_KINDS = ("rate_limit", "overloaded")


class Window:
    """A limit between 1 and `ceiling` on the items holding a slot. The scheduler takes
    and gives back slots itself (it is the only one that does), so no lock is needed."""

    def __init__(self, name: str, ceiling: int, *, cooldown_s: float = 1.0):
        self.name = name
        self.ceiling = max(1, ceiling)
        self.limit = float(self.ceiling)
        self.in_use = 0
        self.cooldown_s = cooldown_s  # one decrease per burst of 429s, not one per item
        self._last_decrease = -float("inf")

    @property
    def size(self) -> int:
        return max(1, int(self.limit))

    @property
    def free(self) -> bool:
        return self.in_use < self.size

    def succeeded(self) -> bool:
        """Additive increase: +1 per window of successes. True when the size changed."""
        before = self.size
        self.limit = min(float(self.ceiling), self.limit + 1.0 / self.limit)
        return self.size != before

    def rate_limited(self) -> bool:
        """Multiplicative decrease: halve, at most once per cooldown. True when changed."""
        now = monotonic()
        if now - self._last_decrease < self.cooldown_s:
            return False
        self._last_decrease = now
        before = self.size
        self.limit = max(1.0, self.limit / 2)
        return self.size != before


def provider_keys(workflow: object, run_mode: str | None) -> list[str]:
    """'kind/mode/key' for each provider the workflow's model steps call; the key is a
    short digest of the credential in use (never the credential), or 'sim' / 'mock'."""
    from rillet.engine.modes import default_run_mode, step_mode
    from rillet.steps import MODEL_STEPS

    chosen = run_mode or default_run_mode()
    keys: set[str] = set()
    for step in getattr(workflow, "steps", []):
        if step.type not in MODEL_STEPS:
            continue
        kind = MODEL_STEPS[step.type].provider_kind(step)
        mode = step_mode(chosen, step.mode, kind)
        keys.add(f"{kind}/{mode}/{_credential_digest(kind) if mode == 'live' else mode}")
    return sorted(keys)


def _credential_digest(kind: str) -> str:
    for name in _CREDENTIAL_ENV.get(kind, ()):
        value = os.environ.get(name)
        if value:
            return hashlib.sha256(value.encode()).hexdigest()[:8]
    return "login"
