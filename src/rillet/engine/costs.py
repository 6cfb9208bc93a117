"""The run's cost: the sum of what is known, and whether some of it is not.

A step that ran a model rillet has no price for has `cost_usd: None`. The run's cost is
then unknown too (`null` in results.json, `$?` on the console), and one warning per
model says why and how to give the price (`pricing:` in the workflow).
"""

from __future__ import annotations

from rillet.result import StepResult


class CostBook:
    def __init__(self, warnings: list[str]):
        self.warnings = warnings
        self.unknown = False
        self._warned: set[str] = set()

    def add(self, result: StepResult) -> float:
        """The step's known cost (0 when unknown, which is remembered and warned once)."""
        if result.cost_usd is not None:
            return result.cost_usd
        self.unknown = True
        model = result.model or "?"
        if model not in self._warned:
            self._warned.add(model)
            self.warnings.append(
                f"step '{result.step}': rillet has no price for model '{model}', so its cost "
                f"is recorded as unknown (null); give it under pricing: in the workflow "
                f"(USD per million tokens)")
        return 0.0

    def total(self, known: float) -> float | None:
        return None if self.unknown else known
