"""Scenario 1: time to first token that rillet adds over the raw `anthropic` SDK.

Each side makes one streamed Messages API request to the simulator (a few ms to the
first token, then a short reply) and stops the clock when the first text delta is in its
hands:
- rillet: `run_async` of a one-step `anthropic_api` workflow in sim mode, first TextDelta
  reaching a run listener. rillet keeps one SDK client per (provider, base URL, key) for
  the process, so from the second run on its request goes out on a reused client. Two
  figures: from the `run_async` call (the run's whole set-up included) and from the
  step's start (StepStarted), the streaming path alone;
- the baseline: a raw program keeping one `AsyncAnthropic` client, with
  `messages.stream()` (first `text` event) and with the lower-level
  `messages.create(stream=True)` (first text delta; what rillet calls);
- for scale: the raw SDK making a new client per call. That loads the CA bundle into a new
  SSL context (~20 ms, even for an http:// URL, varying by a millisecond or two); the
  "SSL cached" rows share one context between the new clients.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import cache
from time import perf_counter
from typing import Any

from bench.harness import AT_MOST, BenchConfig, ScenarioResult, alternate, median
from bench.paths import MODEL, Stamps, run_dirs, step_yaml, workflow
from bench.simproc import simulator_process

NUMBER, TITLE = 1, "time to first token added over the raw anthropic SDK"
PROMPT = "bench first token"
FIRST_TOKEN_DELAY_S = 0.002
SCRIPT = {"rules": [{"match": PROMPT, "text": "The first token arrives quickly, then a few more.",
                     "timing": {"first_token_delay_s": FIRST_TOKEN_DELAY_S,
                                "tokens_per_second": 2000, "chunk_tokens": 1, "jitter": 0}}]}


@contextmanager
def cached_ssl_context() -> Iterator[None]:
    """New SDK clients share one SSL context (see the module's docstring)."""
    import httpcore2

    original = httpcore2.default_ssl_context
    httpcore2.default_ssl_context = _shared_ssl_context(original)
    try:
        yield
    finally:
        httpcore2.default_ssl_context = original


@cache
def _shared_ssl_context(make: Callable[..., Any]) -> Callable[..., Any]:
    return cache(make)


def _with_cached_ssl(call: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    async def wrapped() -> Any:
        with cached_ssl_context():
            return await call()

    return wrapped


def _raw(url: str):
    from anthropic import AsyncAnthropic

    async def call() -> dict[str, float]:
        started = perf_counter()
        client = AsyncAnthropic(base_url=url, api_key="sim", max_retries=0)
        first = None
        async with client.messages.stream(model=MODEL, max_tokens=1024, messages=[
                {"role": "user", "content": PROMPT}]) as stream:
            async for event in stream:
                if first is None and event.type == "text":
                    first = perf_counter()
        await client.close()
        return {"ttft": first - started, "total": perf_counter() - started}

    return call


def _raw_events(url: str):
    """The SDK's lower-level stream: `messages.create(stream=True)`, typed events without
    the helper's accumulated snapshot."""
    from anthropic import AsyncAnthropic

    async def call() -> dict[str, float]:
        started = perf_counter()
        client = AsyncAnthropic(base_url=url, api_key="sim", max_retries=0)
        first = None
        stream = await client.messages.create(model=MODEL, max_tokens=1024, stream=True,
                                              messages=[{"role": "user", "content": PROMPT}])
        async for event in stream:
            if first is None and event.type == "content_block_delta" and \
                    event.delta.type == "text_delta":
                first = perf_counter()
        await client.close()
        return {"ttft": first - started, "total": perf_counter() - started}

    return call


def _raw_reused(url: str, clients: list[Any], *, events: bool = False):
    """One client for every call, as a long-lived program keeps it: `messages.stream()`,
    or with `events`, `messages.create(stream=True)`."""
    from anthropic import AsyncAnthropic

    async def call() -> dict[str, float]:
        if not clients:  # made in the benchmark's loop, closed by run()
            clients.append(AsyncAnthropic(base_url=url, api_key="sim", max_retries=0))
        client = clients[0]
        started = perf_counter()
        first = None
        messages = [{"role": "user", "content": PROMPT}]
        if events:
            stream = await client.messages.create(model=MODEL, max_tokens=1024, stream=True,
                                                  messages=messages)
            async for event in stream:
                if first is None and event.type == "content_block_delta" and \
                        event.delta.type == "text_delta":
                    first = perf_counter()
        else:
            async with client.messages.stream(model=MODEL, max_tokens=1024,
                                              messages=messages) as stream:
                async for event in stream:
                    if first is None and event.type == "text":
                        first = perf_counter()
        return {"ttft": first - started, "total": perf_counter() - started}

    return call


def _rillet(url: str):
    import rillet

    flow = workflow("bench-ttft", [step_yaml("answer", PROMPT, mode="sim")])

    async def call() -> dict[str, float]:
        stamps = Stamps()
        with run_dirs() as dirs:
            started = perf_counter()
            result = await rillet.run_async(flow, mode="sim", sim_base_url=url,
                                            listeners=[stamps], telemetry=False, **dirs)
            total = perf_counter() - started
        if not result.success:
            raise RuntimeError(f"the benchmark run failed: {result.error}")
        return {"ttft": stamps.first["answer"] - started,
                "step_ttft": stamps.first["answer"] - stamps.started["answer"],
                "total": total}

    return call


async def run(config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult(NUMBER, TITLE)
    repetitions = config.pick(3, 15)
    clients: list[list[Any]] = [[], []]
    with simulator_process(SCRIPT) as url:
        variants: dict[str, Any] = {
            "raw_reused": _raw_reused(url, clients[0]),
            "raw_reused_events": _raw_reused(url, clients[1], events=True),
            "rillet": _rillet(url),
            "raw": _raw(url), "raw_ssl": _with_cached_ssl(_raw(url)),
            "raw_events_ssl": _with_cached_ssl(_raw_events(url))}
        try:
            samples = await alternate(variants, repetitions, warmup=2)
        finally:
            for client in (c for pair in clients for c in pair):
                await client.close()
    result.details = {
        "repetitions": repetitions, "simulator_first_token_delay_s": FIRST_TOKEN_DELAY_S,
        **{name: {key: [s[key] for s in values] for key in values[0]}
           for name, values in samples.items()}}

    def added(name: str, base: str, key: str = "ttft") -> float | None:
        # Paired by round (the variants alternate), so drift between rounds cancels out.
        return median([r[key] - b["ttft"] for r, b in zip(samples[name], samples[base])])

    def med(name: str, key: str = "ttft") -> float | None:
        return median([s[key] for s in samples[name]])

    # rillet keeps one client per process (providers/clients.py), so after the warm-up
    # rounds it is compared with a raw program that keeps one too.
    reused = med("raw_reused")
    result.row("warm TTFT from run_async call", med("rillet"), "s", baseline=reused,
               baseline_name="raw messages.stream(), one client reused")
    result.row("warm TTFT / raw SDK's on a reused client", med("rillet") / reused
               if reused else None, "x", target=1.1, compare=AT_MOST)
    result.row("TTFT added over a reused client's messages.stream() (median of pairs)",
               added("rillet", "raw_reused"), "s", target=0.001, compare=AT_MOST)
    result.row("TTFT added over a reused client's create(stream=True) (median of pairs)",
               added("rillet", "raw_reused_events"), "s", target=0.001, compare=AT_MOST)
    result.row("TTFT added, step start to token, over a reused client's messages.stream()",
               added("rillet", "raw_reused", "step_ttft"), "s",
               note="both sides leave out client set-up: neither makes one")
    result.row("TTFT, raw SDK with a new client per call, SSL cached", med("raw_ssl"), "s",
               baseline=reused, baseline_name="raw SDK, one client reused")
    result.row("TTFT, raw create(stream=True), new client per call, SSL cached",
               med("raw_events_ssl"), "s", baseline=reused,
               baseline_name="raw SDK, one client reused")
    result.row("TTFT, raw SDK with a new client per call", med("raw"), "s", baseline=reused,
               baseline_name="raw SDK, one client reused")
    return result
