"""Prices and progressive cost.

`price_usd(model, input_tokens, output_tokens, cache_read_tokens=0, cache_write_tokens=0)`
prices tokens from the table in this package's YAML files (one per model family);
`priced_stream(source, request)` gives a provider's Usage / ResponseComplete events their
running cost and lets a provider-reported total win.
"""

from rillet.providers.pricing.stream import CostReconciliation, priced_stream
from rillet.providers.pricing.table import (
    ModelPrice, PriceTableError, find_price, parse_price_file, price_table, price_usd,
)

__all__ = [
    "CostReconciliation", "ModelPrice", "PriceTableError", "find_price", "parse_price_file",
    "price_table", "price_usd", "priced_stream",
]
