"""`rillet batch`: run one workflow over many inputs, here or on a Ray cluster."""

from rillet.batching.events import (
    BudgetStopped, ConcurrencyChanged, ItemEvent, ItemResult, ItemRetried, ItemStarted,
)
from rillet.batching.inputs import Item, read_items
from rillet.batching.scheduler import BatchStats, batch

__all__ = ["BatchStats", "BudgetStopped", "ConcurrencyChanged", "Item", "ItemEvent",
           "ItemResult", "ItemRetried", "ItemStarted", "batch", "read_items"]
