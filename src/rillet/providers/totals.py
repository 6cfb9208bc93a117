"""Token and cost totals across attempts: a provider's Usage and ResponseComplete count one
attempt; a step that asks again (a repair, a retry, a fallback) adds what the attempts
before it spent, so the step's figures are what it really cost."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from rillet.events import ResponseComplete, Usage

Spent = tuple[int, int, float]  # input tokens, output tokens, cost in USD
NOTHING: Spent = (0, 0, 0.0)
Totals = TypeVar("Totals", Usage, ResponseComplete)


def with_spent(event: Totals, spent: Spent) -> Totals:
    """`event` with the earlier attempts' tokens and cost added."""
    if spent == NOTHING:
        return event
    cost = None if event.cost_usd is None else event.cost_usd + spent[2]
    return dataclasses.replace(event, input_tokens=event.input_tokens + spent[0],
                               output_tokens=event.output_tokens + spent[1], cost_usd=cost)


def plus(spent: Spent, event: Usage | ResponseComplete | None) -> Spent:
    """`spent` and what the attempt that ended with `event` spent."""
    if event is None:
        return spent
    return (spent[0] + event.input_tokens, spent[1] + event.output_tokens,
            spent[2] + (event.cost_usd or 0.0))
