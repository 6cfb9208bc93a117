"""One SDK client per (provider, base URL, key) per event loop, closed when the loop ends."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rillet.providers import clients
from rillet.providers.anthropic_api import AnthropicAPIProvider
from rillet.providers.base import ModelRequest
from rillet.providers.gemini import GeminiProvider
from rillet.providers.registry import ProviderPool


class FakeClient:
    def __init__(self, made_in: str):
        self.made_in = made_in
        self.closed = 0


async def close_fake(client: FakeClient) -> None:
    client.closed += 1


def maker(made: list[FakeClient]):
    def make() -> FakeClient:
        made.append(FakeClient(threading.current_thread().name))
        return made[-1]

    return make


def request(base_url: str) -> ModelRequest:
    return ModelRequest(step="s", prompt="hi", mode="sim", base_url=base_url)


async def test_every_pool_of_a_loop_shares_one_client_per_provider_and_url():
    first, second = ProviderPool(), ProviderPool()
    a = await first.provider("anthropic_api", "sim", "http://one")._client_for(
        request("http://one"))
    b = await second.provider("anthropic_api", "sim", "http://one")._client_for(
        request("http://one"))
    other = await second.provider("anthropic_api", "sim", "http://two")._client_for(
        request("http://two"))
    gemini = await second.provider("gemini", "sim", "http://one")._client_for(
        request("http://one"))
    assert a is b
    assert other is not a and str(other.base_url).startswith("http://two")
    assert type(gemini).__module__.startswith("google.genai")
    await first.aclose()
    await second.aclose()
    assert not a.is_closed()  # a run's end leaves it for the next run
    await clients.aclose_clients()
    assert a.is_closed() and other.is_closed()


async def test_a_live_client_is_made_again_when_its_key_changes(monkeypatch):
    provider = AnthropicAPIProvider(mode="live")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "key-one")
    one = await provider._client_for(ModelRequest(step="s", prompt="", mode="live"))
    assert one is await provider._client_for(ModelRequest(step="s", prompt="", mode="live"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "key-two")
    two = await provider._client_for(ModelRequest(step="s", prompt="", mode="live"))
    assert two is not one and two.api_key == "key-two"
    await clients.aclose_clients()


def test_the_clients_of_a_loop_are_closed_when_the_loop_ends():
    made: list[FakeClient] = []

    async def use() -> FakeClient:
        return await clients.shared_client("k", maker(made), close_fake)

    first = asyncio.run(use())
    assert first.closed == 1  # asyncio.run closed it before closing its loop
    second = asyncio.run(use())
    assert second is not first and len(made) == 2  # a new loop: a new client


def test_warm_makes_the_client_in_a_thread_and_the_step_awaits_it():
    made: list[FakeClient] = []
    release = threading.Event()

    def slow() -> FakeClient:
        release.wait(5)
        return maker(made)()

    async def main() -> tuple[FakeClient, bool]:
        clients.warm("slow", slow, close_fake)
        task = asyncio.ensure_future(clients.shared_client("slow", slow, close_fake))
        await asyncio.sleep(0.05)
        waiting = not task.done()  # the loop keeps running while the client is made
        release.set()
        return await task, waiting

    client, waiting = asyncio.run(main())
    assert waiting and len(made) == 1
    assert client.made_in.startswith("rillet-sdk-setup")


async def test_a_failed_make_is_raised_and_tried_again():
    calls: list[int] = []

    def flaky() -> FakeClient:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("no key yet")
        return FakeClient("main")

    with pytest.raises(RuntimeError, match="no key yet"):
        await clients.shared_client("flaky", flaky, close_fake)
    client = await clients.shared_client("flaky", flaky, close_fake)
    assert isinstance(client, FakeClient) and len(calls) == 2
    await clients.aclose_clients()
    assert client.closed == 1


async def test_the_pool_warms_the_http_providers_client_before_any_step():
    pool = ProviderPool()
    pool.warm("gemini", "sim", "http://warm")
    provider = pool.provider("gemini", "sim", "http://warm")
    key = provider._client_key("http://warm")
    future = clients._by_loop[asyncio.get_running_loop()].entries[key][0]
    client = await asyncio.wrap_future(future)
    assert client is await provider._client_for(request("http://warm"))
    assert isinstance(provider, GeminiProvider)
    await clients.aclose_clients()


async def test_a_run_sets_up_every_sdk_client_in_the_background_when_it_starts(
        monkeypatch, tmp_path):
    import rillet
    from rillet.providers.anthropic_api import AnthropicAPIProvider as API
    from rillet.sim.server import SimulatorThread
    from rillet.workflow.loader import loads_workflow

    made_in: dict[str, str] = {}
    for provider in (API, GeminiProvider):
        original = provider._new_client

        def record(self, base_url, *, step, original=original):
            made_in[self.name] = threading.current_thread().name
            return original(self, base_url, step=step)

        monkeypatch.setattr(provider, "_new_client", record)
    flow = loads_workflow("""
workflow:
  name: warmed
  steps:
    - {name: first, type: gemini, prompt: [{type: static, content: hi}]}
    - {name: second, type: claude, provider: anthropic_api,
       prompt: [{type: static, content: hi}]}
""", source="<test>")
    with SimulatorThread() as sim:
        result = await rillet.run_async(flow, mode="sim", sim_base_url=sim.base_url,
                                        output_dir=tmp_path / "out",
                                        workspace_dir=tmp_path / "ws")
    assert result.success
    assert made_in["gemini"].startswith("rillet-sdk-setup")
    assert made_in["anthropic_api"].startswith("rillet-sdk-setup")  # before its step
    await clients.aclose_clients()


def test_providers_used_lists_each_provider_and_mode_once():
    from rillet.engine.modes import providers_used
    from rillet.workflow.loader import loads_workflow

    flow = loads_workflow("""
workflow:
  name: used
  steps:
    - {name: a, type: gemini, prompt: [{type: static, content: hi}]}
    - {name: b, type: gemini, prompt: [{type: static, content: hi}]}
    - {name: c, type: claude, mode: live, prompt: [{type: static, content: hi}]}
    - {name: d, type: set_variable, variables: {x: 1}}
""", source="<test>")
    assert providers_used(flow, "sim") == [("gemini", "sim", None),
                                           ("claude_agent", "sim", "live")]
    assert providers_used(flow, "mixed")[1] == ("claude_agent", "live", "live")
