"""The price table (lookup, cache tokens, tiers, data-file validation) and priced_stream
(progressive cost, the provider's total winning, closing)."""

from __future__ import annotations

import asyncio
import logging
from importlib import resources

import pytest

from rillet.events import (
    MessageComplete, ResponseComplete, StreamRetry, TextDelta, ThinkingDelta, Usage,
)
from rillet.providers.anthropic_api.events import AnthropicEventTranslator
from rillet.providers.base import ModelRequest
from rillet.providers.pricing import (
    CostReconciliation, PriceTableError, find_price, parse_price_file, price_table, price_usd,
    priced_stream,
)
from rillet.providers.pricing.table import build_index
from rillet.sim.anthropic_stream import anthropic_events
from rillet.sim.script import Reply, Timing, count_tokens

M = 1_000_000


# --- lookups -------------------------------------------------------------------------------


def test_exact_id_is_priced_per_million_tokens():
    assert price_usd("claude-sonnet-4-5", 100_000, 0) == pytest.approx(0.30)
    assert price_usd("claude-sonnet-4-5", 0, M) == pytest.approx(15.00)
    assert price_usd("claude-haiku-4-5", 2_000, 500) == pytest.approx(2_000 * 1e-6 + 500 * 5e-6)
    assert price_usd("gemini-2.5-flash", M, M) == pytest.approx(0.30 + 2.50)


@pytest.mark.parametrize(("model", "entry"), [
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),  # listed alias
    ("claude-opus-4-6-20260205", "claude-opus-4-6"),  # a dated release not listed
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
    ("claude-opus-4", "claude-opus-4-0"),
    ("CLAUDE-HAIKU-4-5", "claude-haiku-4-5"),
    ("claude-sonnet-4-5[1m]", "claude-sonnet-4-5"),  # Claude Code's context-window tag
    ("gemini-2.0-flash-001", "gemini-2.0-flash"),  # Gemini's stable version suffix
    ("models/gemini-2.5-pro", "gemini-2.5-pro"),  # the Gemini API's resource name
])
def test_dated_and_aliased_ids_find_their_model(model, entry):
    assert find_price(model).id == entry
    assert price_usd(model, 1234, 567) == price_usd(entry, 1234, 567)


def test_a_suffix_never_turns_one_model_into_another():
    # prefix matching strips release suffixes only: -1 is a model version, not a release
    assert find_price("claude-opus-4-1").id == "claude-opus-4-1"
    assert price_usd("claude-opus-4-1", M, 0) == pytest.approx(15.00)
    assert price_usd("claude-opus-4-5", M, 0) == pytest.approx(5.00)
    assert find_price("gemini-2.5-flash-lite").id == "gemini-2.5-flash-lite"


@pytest.mark.parametrize("model", [
    "gpt-4o", "claude-sonnet-4-5-experimental", "gemini-2.5-flash-preview-05-20",
    "sonnet", "claude", "", None,
])
def test_unknown_models_have_no_price(model):
    assert find_price(model) is None
    assert price_usd(model, 1000, 1000) is None


def test_cache_reads_and_writes_have_their_own_prices():
    assert price_usd("claude-sonnet-4-5", 0, 0, cache_read_tokens=100_000) == pytest.approx(0.03)
    assert price_usd("claude-sonnet-4-5", 0, 0, cache_write_tokens=100_000) == pytest.approx(
        0.375)
    assert price_usd("claude-opus-4-5", 1000, 2000, 30_000, 4000) == pytest.approx(
        (1000 * 5 + 2000 * 25 + 30_000 * 0.50 + 4000 * 6.25) / M)
    assert price_usd("gemini-2.5-flash", 0, 0, cache_read_tokens=M) == pytest.approx(0.03)


def test_a_token_kind_without_a_published_price_makes_the_cost_unknown():
    assert price_usd("gemini-3.1-pro-preview", 1000, 100) == pytest.approx(
        (1000 * 2 + 100 * 12) / M)
    assert price_usd("gemini-3.1-pro-preview", 1000, 100, cache_read_tokens=10) is None
    assert price_usd("gemini-2.5-pro", 1000, 100, cache_write_tokens=10) is None


def test_a_prompt_above_the_tier_limit_is_billed_at_the_tier_price():
    assert price_usd("gemini-2.5-pro", 200_000, 1000) == pytest.approx(
        200_000 * 1.25 / M + 1000 * 10 / M)
    assert price_usd("gemini-2.5-pro", 200_001, 1000) == pytest.approx(
        200_001 * 2.50 / M + 1000 * 15 / M)
    # the prompt counts cached tokens too, and the tier prices the cache reads as well
    assert price_usd("gemini-2.5-pro", 150_000, 0, cache_read_tokens=60_000) == pytest.approx(
        150_000 * 2.50 / M + 60_000 * 0.25 / M)
    assert price_usd("claude-sonnet-4-5", 250_000, 1000, cache_write_tokens=10) == pytest.approx(
        (250_000 * 6 + 1000 * 22.50 + 10 * 7.50) / M)
    assert price_usd("claude-haiku-5-5", 100_001, 0) == pytest.approx(100_001 * 0.50 / M)


# --- the data files ----------------------------------------------------------------------


def data_files() -> dict[str, str]:
    folder = resources.files("rillet.providers.pricing")
    return {f.name: f.read_text() for f in folder.iterdir() if f.name.endswith(".yaml")}


def test_one_data_file_per_family_and_every_entry_is_named_after_it():
    files = {name: parse_price_file(text, name) for name, text in data_files().items()}
    assert {f.family for f in files.values()} == {"claude", "gemini"}
    for name, price_file in files.items():
        assert name == f"{price_file.family}.yaml"
        assert price_file.source.startswith("https://")
        for model_id, prices in price_file.models.items():
            assert model_id.startswith(price_file.family + "-"), model_id
            assert prices.output >= prices.input, model_id
    table = price_table()
    assert table is price_table()  # loaded once
    assert {"claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-3-5-haiku",
            "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"} <= set(table)


GOOD = """
family: testco
source: https://example.com/pricing
checked: 2026-01-01
models:
  testco-1:
    input: 1.0
    output: 2.0
"""


def test_a_valid_file_loads():
    index = build_index({"testco.yaml": parse_price_file(GOOD, "testco.yaml")})
    assert index["testco-1"].cost(M, M) == pytest.approx(3.0)


@pytest.mark.parametrize(("text", "says"), [
    (GOOD.replace("output: 2.0", "output: 2.0\n    outptu: 3"),
     "models.testco-1.outptu: Extra inputs are not permitted"),
    (GOOD.replace("input: 1.0", "input: -1.0"), "models.testco-1.input"),
    (GOOD.replace("input: 1.0", "input: cheap"), "models.testco-1.input"),
    (GOOD.replace("checked: 2026-01-01\n", ""), "checked: Field required"),
    (GOOD + "  testco-1:\n    input: 1\n    output: 1\n", "duplicate key 'testco-1'"),
    (GOOD + "    tiers:\n      - {above_prompt_tokens: 500, input: 2, output: 3}\n"
            "      - {above_prompt_tokens: 100, input: 2, output: 3}\n", "ascending order"),
    ("models: [", "not valid YAML"),
])
def test_a_broken_data_file_is_a_clear_error(text, says):
    with pytest.raises(PriceTableError) as info:
        parse_price_file(text, "testco.yaml")
    assert "pricing/testco.yaml" in str(info.value)
    assert says in str(info.value)


def test_an_id_priced_in_two_files_is_an_error():
    other = GOOD.replace("testco-1:", "testco-2:\n    aliases: [testco-1]")
    with pytest.raises(PriceTableError, match="'testco-1' is already priced in pricing/a.yaml"):
        build_index({"a.yaml": parse_price_file(GOOD, "a.yaml"),
                     "b.yaml": parse_price_file(other, "b.yaml")})


# --- priced_stream -----------------------------------------------------------------------


def request(model: str | None = "claude-sonnet-4-5") -> ModelRequest:
    return ModelRequest(step="s", prompt="p", model=model)


async def replay(*events):
    for event in events:
        yield event


async def run(source, req, **kw) -> list:
    return [e async for e in priced_stream(source, req, **kw)]


def cost(model: str, i: int, o: int) -> float:
    return price_usd(model, i, o)


async def test_each_usage_carries_the_cost_so_far_and_deltas_pass_untouched():
    deltas = [TextDelta("s", "Hello"), ThinkingDelta("s", "hm"), TextDelta("s", " world")]
    out = await run(replay(
        Usage("s", 1000, 0), deltas[0], deltas[1], Usage("s", 1000, 40), deltas[2],
        Usage("s", 1000, 90, cache_read_tokens=5000),
        MessageComplete("s", "end_turn", "claude-sonnet-4-5"),
        ResponseComplete("s", model="claude-sonnet-4-5", input_tokens=1000, output_tokens=90),
    ), request())
    assert [o for o in out if type(o) in (TextDelta, ThinkingDelta)] == deltas
    assert all(a is b for a, b in zip([o for o in out if type(o) in (TextDelta, ThinkingDelta)],
                                      deltas))
    costs = [o.cost_usd for o in out if type(o) is Usage]
    assert costs == pytest.approx([cost("claude-sonnet-4-5", 1000, 0),
                                   cost("claude-sonnet-4-5", 1000, 40),
                                   price_usd("claude-sonnet-4-5", 1000, 90, 5000)])
    assert costs[0] < costs[1] < costs[2]
    final = out[-1]
    assert type(final) is ResponseComplete
    assert final.cost_usd == pytest.approx(costs[-1])  # the last Usage's cache reads count
    assert (final.input_tokens, final.output_tokens, final.model) == (1000, 90,
                                                                      "claude-sonnet-4-5")


async def test_the_usage_the_anthropic_translator_emits_is_priced_as_tokens_arrive():
    text = "The river keeps its own slow time, and the stones remember every flood."
    reply = Reply(text=text, timing=Timing(pattern="fast"))
    translator = AnthropicEventTranslator("s")

    async def provider():
        for _, raw in anthropic_events(reply, model="claude-haiku-4-5-20251001",
                                       input_tokens=12, fault=None):
            event = translator.translate(raw)
            if event is not None:
                yield event

    out = await run(provider(), request("claude-haiku-4-5-20251001"))
    usages = [e for e in out if type(e) is Usage]
    assert usages[0].cost_usd == pytest.approx(12 * 1e-6)  # message_start: input only
    assert usages[-1].cost_usd == pytest.approx(12 * 1e-6 + count_tokens(text) * 5e-6)
    assert "".join(e.text for e in out if type(e) is TextDelta) == text


async def test_the_provider_total_wins_and_is_reconciled_with_the_table():
    notes: list[CostReconciliation] = []
    out = await run(replay(
        Usage("s", 3000, 0), TextDelta("s", "hi"), Usage("s", 3000, 200),
        # the Claude CLI's ResultMessage: its totals and its own cost
        Usage("s", 3100, 210, 0.0123, cache_read_tokens=1000),
        ResponseComplete("s", model="claude-sonnet-4-5", input_tokens=3100, output_tokens=210,
                         cost_usd=0.0123),
    ), request(), on_reconcile=notes.append)
    costs = [e.cost_usd for e in out if type(e) is Usage]
    assert costs[:2] == pytest.approx([cost("claude-sonnet-4-5", 3000, 0),
                                       cost("claude-sonnet-4-5", 3000, 200)])
    assert costs[2] == 0.0123
    assert out[-1].cost_usd == 0.0123
    [note] = notes
    table = price_usd("claude-sonnet-4-5", 3100, 210, 1000)
    assert note == CostReconciliation("s", "claude-sonnet-4-5", 0.0123, table,
                                      cost("claude-sonnet-4-5", 3000, 200))
    assert note.difference_usd == pytest.approx(table - 0.0123)


async def test_a_provider_total_on_the_usage_alone_also_goes_on_the_final_event(caplog):
    caplog.set_level(logging.DEBUG, logger="rillet.pricing")
    out = await run(replay(
        Usage("s", 10, 5, 0.5),
        ResponseComplete("s", model="claude-sonnet-4-5", input_tokens=10, output_tokens=5),
    ), request())
    assert out[-1].cost_usd == 0.5
    assert "provider reports $0.500000" in caplog.text
    assert f"${cost('claude-sonnet-4-5', 10, 5):.6f} for the same tokens" in caplog.text


async def test_a_total_only_on_the_final_event_is_reconciled_too():
    notes: list[CostReconciliation] = []
    await run(replay(
        Usage("s", 10, 5),
        ResponseComplete("s", model="claude-sonnet-4-5", input_tokens=10, output_tokens=7,
                         cost_usd=0.25),
    ), request(), on_reconcile=notes.append)
    assert notes[0].provider_usd == 0.25
    assert notes[0].table_usd == pytest.approx(cost("claude-sonnet-4-5", 10, 7))
    assert notes[0].streamed_usd == pytest.approx(cost("claude-sonnet-4-5", 10, 5))


async def test_without_a_request_model_the_model_the_stream_reports_is_priced():
    out = await run(replay(
        Usage("s", 100, 0),  # nothing says which model yet: cost unknown
        MessageComplete("s", "end_turn", "claude-haiku-4-5-20251001"),
        Usage("s", 100, 50),
        ResponseComplete("s", model="claude-haiku-4-5-20251001", input_tokens=100,
                         output_tokens=50),
    ), request(None))
    usages = [e for e in out if type(e) is Usage]
    assert usages[0].cost_usd is None
    assert usages[1].cost_usd == pytest.approx(cost("claude-haiku-4-5", 100, 50))
    assert out[-1].cost_usd == pytest.approx(cost("claude-haiku-4-5", 100, 50))


async def test_an_alias_the_table_does_not_know_falls_back_to_the_reported_model():
    out = await run(replay(
        ResponseComplete("s", model="claude-opus-4-5-20251101", input_tokens=1000,
                         output_tokens=100),
    ), request("opus"))
    assert out[-1].cost_usd == pytest.approx(cost("claude-opus-4-5", 1000, 100))


async def test_an_unknown_model_leaves_the_cost_unknown():
    events = (Usage("s", 100, 50), StreamRetry("s", 1, "x"),
              ResponseComplete("s", model="gpt-4o", input_tokens=100, output_tokens=50))
    out = await run(replay(*events), request("gpt-4o"))
    assert out == list(events)
    assert all(e.cost_usd is None for e in out if type(e) in (Usage, ResponseComplete))


async def test_a_final_event_without_token_counts_is_priced_from_the_last_usage():
    out = await run(replay(Usage("s", 400, 30), ResponseComplete("s")),
                    request("gemini-2.5-flash"))
    assert out[-1].cost_usd == pytest.approx(cost("gemini-2.5-flash", 400, 30))


class Source:
    """An async generator that records whether it was closed and how far it got."""

    def __init__(self, *, hang: bool = False):
        self.closed = False
        self.sent = 0
        self.hang = hang
        self.waiting = asyncio.Event()

    async def stream(self):
        try:
            for i in range(1000):
                if self.hang and i == 2:
                    self.waiting.set()
                    await asyncio.sleep(60)
                self.sent += 1
                yield TextDelta("s", f"t{i}")
        finally:
            self.closed = True


async def test_closing_priced_stream_closes_the_source():
    source = Source()
    stream = priced_stream(source.stream(), request())
    assert (await anext(stream)).text == "t0"
    await stream.aclose()
    assert source.closed
    assert source.sent == 1


async def test_cancelling_the_consumer_reaches_the_source():
    source = Source(hang=True)

    async def consume():
        async for _ in priced_stream(source.stream(), request()):
            pass

    task = asyncio.create_task(consume())
    await source.waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.closed
    assert source.sent == 2


async def test_a_failing_source_still_reconciles_a_reported_cost():
    from rillet.errors import ProviderError

    notes: list[CostReconciliation] = []

    async def failing():
        yield Usage("s", 10, 5, 0.02)  # the CLI's error result carries what it spent
        raise ProviderError("budget", kind="budget")

    with pytest.raises(ProviderError):
        await run(failing(), request(), on_reconcile=notes.append)
    assert [n.provider_usd for n in notes] == [0.02]
