"""Which backend each model step uses: forced by the run, chosen by the step, or by keys."""

from __future__ import annotations

import pytest

from rillet.engine.modes import default_run_mode, step_mode

KEYS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN",
        "GEMINI_API_KEY", "GOOGLE_API_KEY")


@pytest.fixture
def no_keys(monkeypatch, tmp_path):
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no logged-in Claude CLI either


@pytest.mark.parametrize("value, mode", [("mock", "mock"), (" LIVE ", "live"), ("sim", "sim"),
                                         ("", "mixed"), ("bogus", "mixed")])
def test_test_mode_sets_the_default_run_mode(monkeypatch, value, mode):
    monkeypatch.setenv("TEST_MODE", value)
    assert default_run_mode() == mode


def test_a_forced_run_mode_wins_over_the_step(no_keys):
    assert step_mode("mock", "live", "claude_agent") == "mock"


def test_in_a_mixed_run_the_step_chooses(no_keys):
    assert step_mode("mixed", "mock", "gemini") == "mock"


def test_a_mixed_run_goes_live_only_where_that_provider_has_a_key(no_keys, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    assert step_mode("mixed", None, "gemini") == "live"
    assert step_mode("mixed", None, "anthropic_api") == "sim"
    assert step_mode("mixed", None, "claude_agent") == "sim"
