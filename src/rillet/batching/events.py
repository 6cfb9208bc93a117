"""What `rillet.batching(...)` yields: a result per item and, when asked, what happens
on the way (each run's events tagged with its item, the concurrency, the budget)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rillet.events import Event


@dataclass(frozen=True, slots=True)
class ItemResult:
    """An item is finished: its batch.jsonl record (status, every step's text, cost...)."""

    item: str
    record: dict[str, Any]

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def success(self) -> bool:
        return self.record["status"] == "completed"


@dataclass(frozen=True, slots=True)
class ItemStarted:
    item: str
    attempt: int
    worker: dict[str, Any] = field(default_factory=dict)  # on Ray: its pid and node


@dataclass(frozen=True, slots=True)
class ItemEvent:
    """One event of an item's run (a TextDelta, StepStarted...)."""

    item: str
    event: Event


@dataclass(frozen=True, slots=True)
class ItemRetried:
    """The item runs again: its worker died, or the provider rate-limited it. Text it
    streamed before is void; it appears in batch.jsonl once, when it finishes."""

    item: str
    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class ConcurrencyChanged:
    provider: str
    limit: int
    reason: str


@dataclass(frozen=True, slots=True)
class BudgetStopped:
    """max_cost_usd is reached: no new item starts and the running ones are cancelled."""

    spent_usd: float
    budget_usd: float
