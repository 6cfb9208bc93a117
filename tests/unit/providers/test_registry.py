"""has_credentials and ProviderPool: one provider per (kind, mode, base URL), created on
first use, streams priced (and traced when asked), prewarm forwarded, everything closed."""

from __future__ import annotations

from typing import Any

import pytest

from rillet.errors import ProviderError
from rillet.events import ResponseComplete, TextDelta, Usage
from rillet.providers import registry
from rillet.providers.base import ModelRequest
from rillet.providers.mock import MockProvider
from rillet.providers.pricing import price_usd
from rillet.sim.script import Script

TEXT = "Pools keep one provider per kind."


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for names in registry._CREDENTIAL_ENV.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(("kind", "variable"), [
    ("claude_agent", "ANTHROPIC_API_KEY"), ("claude_agent", "CLAUDE_CODE_OAUTH_TOKEN"),
    ("anthropic_api", "ANTHROPIC_API_KEY"), ("anthropic_api", "ANTHROPIC_AUTH_TOKEN"),
    ("gemini", "GEMINI_API_KEY"), ("gemini", "GOOGLE_API_KEY"),
])
def test_credentials_come_from_each_sdks_environment(no_credentials, monkeypatch, kind,
                                                     variable):
    assert not registry.has_credentials(kind)
    monkeypatch.setenv(variable, "k")
    assert registry.has_credentials(kind)


def test_an_anthropic_key_does_not_count_for_gemini(no_credentials, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    assert not registry.has_credentials("gemini")


def test_a_logged_in_claude_cli_counts_only_for_the_agent_sdk(no_credentials):
    (no_credentials / ".claude").mkdir()
    (no_credentials / ".claude" / ".credentials.json").write_text("{}")
    assert registry.has_credentials("claude_agent")
    assert not registry.has_credentials("anthropic_api")


def test_unknown_kind_is_an_error_naming_the_known_ones():
    with pytest.raises(ProviderError, match="unknown provider kind 'openai'.*gemini"):
        registry.has_credentials("openai")


def test_one_provider_per_kind_mode_and_base_url():
    pool = registry.ProviderPool()
    sim_a = pool.provider("anthropic_api", "sim", "http://a")
    assert pool.provider("anthropic_api", "sim", "http://a") is sim_a
    assert pool.provider("anthropic_api", "sim", "http://b") is not sim_a
    assert pool.provider("anthropic_api", "live") is not sim_a
    assert type(pool.provider("gemini", "mock", "http://ignored")) is MockProvider
    assert pool.provider("gemini", "mock") is pool.provider("gemini", "mock", "http://x")
    assert pool.provider("gemini", "mock") is not pool.provider("claude_agent", "mock")


def test_providers_are_created_only_when_asked_for():
    pool = registry.ProviderPool()
    assert pool._providers == {}
    pool.provider("gemini", "sim", "http://a")
    assert list(pool._providers) == [("gemini", "sim", "http://a")]


async def test_mock_streams_use_the_pools_script_and_are_priced():
    script = Script.from_dict({"rules": [{"match": "pool", "text": TEXT,
                                          "timing": {"pattern": "fast"}}]})
    pool = registry.ProviderPool(mock_script=script)
    request = ModelRequest(step="s", prompt="about the pool", model="claude-sonnet-4-5")
    events = [e async for e in pool.open_stream(request, "anthropic_api")]
    assert "".join(e.text for e in events if type(e) is TextDelta) == TEXT
    final = events[-1]
    assert type(final) is ResponseComplete
    assert final.cost_usd == pytest.approx(price_usd("claude-sonnet-4-5", final.input_tokens,
                                                     final.output_tokens))
    running = [e.cost_usd for e in events if type(e) is Usage]
    assert running and all(cost is not None for cost in running)
    await pool.aclose()


async def test_telemetry_wraps_every_stream(monkeypatch):
    import rillet.providers.telemetry as telemetry

    traced: list[tuple[str, str]] = []

    async def spy(source, request, kind):
        traced.append((request.step, kind))
        async for event in source:
            yield event

    monkeypatch.setattr(telemetry, "traced_stream", spy)
    pool = registry.ProviderPool(telemetry=True)
    request = ModelRequest(step="t", prompt="x", mock={"text": TEXT, "timing": {
        "pattern": "fast"}})
    events = [e async for e in pool.open_stream(request, "gemini")]
    assert traced == [("t", "gemini")]
    assert type(events[-1]) is ResponseComplete


async def test_a_bad_kind_fails_where_the_events_are_read():
    pool = registry.ProviderPool()
    stream = pool.open_stream(ModelRequest(step="s", prompt="x"), "openai")
    with pytest.raises(ProviderError, match="unknown provider kind"):
        [e async for e in stream]


class FakeProvider:
    def __init__(self, warms: bool) -> None:
        self.closed = False
        self.warmed: list[str] = []
        if warms:
            self.prewarm = self._prewarm

    async def _prewarm(self, request: ModelRequest) -> None:
        self.warmed.append(request.step)

    async def aclose(self) -> None:
        self.closed = True


async def test_prewarm_goes_to_providers_that_have_it_and_aclose_closes_all(monkeypatch):
    made: dict[str, FakeProvider] = {}

    def create(kind: str, mode: str, base_url: Any, script: Any) -> FakeProvider:
        made[kind] = FakeProvider(warms=kind == "claude_agent")
        return made[kind]

    monkeypatch.setattr(registry, "_create", create)
    pool = registry.ProviderPool()
    await pool.prewarm(ModelRequest(step="next", prompt="x", mode="sim"), "claude_agent")
    await pool.prewarm(ModelRequest(step="other", prompt="x", mode="sim"), "gemini")
    assert made["claude_agent"].warmed == ["next"]
    await pool.aclose()
    assert made["claude_agent"].closed and made["gemini"].closed
    assert pool._providers == {}


@pytest.mark.parametrize(("kind", "advice"), [("gemini", "GEMINI_API_KEY"),
                                              ("anthropic_api", "ANTHROPIC_API_KEY")])
async def test_live_without_credentials_is_an_auth_error_saying_what_to_set(
        no_credentials, monkeypatch, kind, advice):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # never reached
    pool = registry.ProviderPool()
    stream = pool.open_stream(ModelRequest(step="s", prompt="x", mode="live"), kind)
    with pytest.raises(ProviderError, match=advice) as info:
        [e async for e in stream]
    assert info.value.kind == "auth"
    await pool.aclose()


def test_mock_providers_of_every_kind_share_one_script():
    pool = registry.ProviderPool()
    gemini, claude = pool.provider("gemini", "mock"), pool.provider("claude_agent", "mock")
    assert gemini.script is claude.script is pool.mock_script
    assert pool.mock_script.rules  # the built-in script
