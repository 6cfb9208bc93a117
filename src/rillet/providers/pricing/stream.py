"""priced_stream: give every Usage a running cost, and let the provider's own total win.

Usage events carry running totals, so each one priced from the table is the step's cost
so far: the budget check and the live display see the cost grow as tokens arrive. When
the provider reports what the step really cost (the Claude CLI's ResultMessage), that
figure passes through untouched and the final ResponseComplete carries it; the table's
price for the same tokens is logged next to it (and handed to `on_reconcile`) so a stale
price table shows up instead of hiding.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import Any

from rillet.events import Event, MessageComplete, ResponseComplete, TextDelta, Usage
from rillet.providers.base import ModelRequest
from rillet.providers.pricing.overrides import price_for
from rillet.providers.pricing.table import ModelPrice

log = logging.getLogger("rillet.pricing")


@dataclass(frozen=True, slots=True)
class CostReconciliation:
    """The provider's total next to rillet's own pricing of the step."""

    step: str
    model: str | None  # the price-table entry used; None when the table has none
    provider_usd: float  # what the provider says the step cost: the figure reported
    table_usd: float | None  # the table's price for the provider's final token counts
    streamed_usd: float | None  # the last running cost shown before the total arrived

    @property
    def difference_usd(self) -> float | None:
        """table - provider: positive when the table over-estimates."""
        return None if self.table_usd is None else self.table_usd - self.provider_usd


async def priced_stream(source: AsyncIterator[Event], request: ModelRequest, *,
                        on_reconcile: Callable[[CostReconciliation], None] | None = None,
                        default_model: str | None = None) -> AsyncIterator[Event]:
    """Pass `source` through, pricing Usage / ResponseComplete events that lack a cost.

    The model priced is `request.model` (or `default_model` when the step names none)
    when it has a price (the workflow's `pricing:` first, then the table), else the model
    the stream reports (MessageComplete / ResponseComplete), from then on. Closing this
    generator closes `source`, so cancelling a step still reaches the provider."""
    # A step with no model runs the provider's default (`default_model`): priced from the
    # first token, so a budget can stop it mid-stream; the model the stream reports wins.
    assumed = request.model is None
    price: ModelPrice | None = price_for(request.model or default_model)
    streamed: float | None = None  # the running cost from the table
    reported: Usage | None = None  # the Usage that carried the provider's own total
    last: Usage | None = None
    event: Any
    try:
        async with aclosing(source) as events:  # type: ignore[type-var]
            async for event in events:
                kind = type(event)
                if kind is TextDelta:  # the per-token case first: one comparison
                    yield event
                    continue
                if kind is Usage:
                    last = event
                    if event.cost_usd is not None:
                        reported = event
                    elif price is not None:
                        cost = price.cost(event.input_tokens, event.output_tokens,
                                          event.cache_read_tokens, event.cache_write_tokens)
                        if cost is not None:
                            streamed = cost
                            event = Usage(event.step, event.input_tokens, event.output_tokens,
                                          cost, event.cache_read_tokens,
                                          event.cache_write_tokens)
                elif kind is ResponseComplete:
                    if price is None or assumed:
                        price = price_for(event.model) or price
                    if event.cost_usd is not None and reported is None:
                        # The total arrives on the final event itself.
                        cache_read, cache_write = _cache_tokens(last)
                        reported = Usage(event.step, event.input_tokens, event.output_tokens,
                                         event.cost_usd, cache_read, cache_write)
                    event = _with_cost(event, price, reported, last)
                elif kind is MessageComplete and (price is None or assumed):
                    price = price_for(event.model) or price
                yield event
    finally:
        if reported is not None:  # also when the stream failed after reporting its cost
            _reconcile(reported, price, streamed, on_reconcile)


def _with_cost(event: ResponseComplete, price: ModelPrice | None, reported: Usage | None,
               last: Usage | None) -> ResponseComplete:
    """The ResponseComplete with the step's cost: its own, else the provider's total seen
    on a Usage, else the table's price of the final token counts."""
    if event.cost_usd is not None:
        return event
    if reported is not None:
        return replace(event, cost_usd=reported.cost_usd)
    if price is None:
        return event
    if event.input_tokens or event.output_tokens:
        cost = price.cost(event.input_tokens, event.output_tokens, *_cache_tokens(last))
    elif last is not None:
        cost = price.cost(last.input_tokens, last.output_tokens,
                          last.cache_read_tokens, last.cache_write_tokens)
    else:
        return event
    return event if cost is None else replace(event, cost_usd=cost)


def _cache_tokens(usage: Usage | None) -> tuple[int, int]:
    return (0, 0) if usage is None else (usage.cache_read_tokens, usage.cache_write_tokens)


def _reconcile(reported: Usage, price: ModelPrice | None, streamed: float | None,
               on_reconcile: Callable[[CostReconciliation], None] | None) -> None:
    provider_usd = reported.cost_usd or 0.0
    table_usd = None if price is None else price.cost(
        reported.input_tokens, reported.output_tokens, reported.cache_read_tokens,
        reported.cache_write_tokens)
    note = CostReconciliation(reported.step, price.id if price else None, provider_usd,
                              table_usd, streamed)
    log.debug("step %r: the provider reports $%.6f; the price table (%s) gives %s for the "
              "same tokens; the running estimate was %s", note.step, provider_usd,
              note.model or "no entry", "n/a" if table_usd is None else f"${table_usd:.6f}",
              "n/a" if streamed is None else f"${streamed:.6f}")
    if on_reconcile is not None:
        on_reconcile(note)
