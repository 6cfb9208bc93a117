"""The documentation and example tests check content, not pacing: the built-in script
answers at the `fast` pattern here (same words, same events, no sleeps), so the many
documented workflows run in a fraction of the time the `realistic` pattern takes."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def fast_default_script(monkeypatch):
    from rillet.sim.script import Script, Timing

    original = Script.default.__func__

    def fast(cls):
        script = original(cls)
        script.timing = Timing(pattern="fast")
        return script

    monkeypatch.setattr(Script, "default", classmethod(fast))
