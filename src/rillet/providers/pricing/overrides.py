"""Prices a workflow gives itself (`pricing:`), the model a step runs when it names none,
and the check that a budget can be kept before a run starts.

A model rillet has no price for costs an unknown amount: it is recorded as `null` (shown
`$?`), never as $0. So `max_cost_usd` could not stop such a run, and a run with a budget
whose models have no price is refused unless the workflow prices them:

    pricing:
      my-finetune: {input: 3.0, output: 15.0}   # USD per million tokens
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from rillet.errors import RunRefused
from pydantic import BaseModel, ConfigDict, NonNegativeFloat

from rillet.providers.pricing.table import ModelPrice, _per_token, find_price

# What the bundled Claude CLI runs when a step sets no model (the mock CLI reports it too).
CLAUDE_CLI_DEFAULT_MODEL = "claude-sonnet-5-5"

class Prices(BaseModel):
    """One model's prices in a workflow's `pricing:`, USD per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: NonNegativeFloat
    output: NonNegativeFloat
    cache_read: NonNegativeFloat | None = None  # None: cache reads make the cost unknown
    cache_write: NonNegativeFloat | None = None


_WORKFLOW_PRICES: ContextVar[Mapping[str, ModelPrice]] = ContextVar(
    "rillet_workflow_prices", default={})


def default_model(kind: str) -> str | None:
    """The model a provider runs for a step with no `model`."""
    if kind == "claude_agent":
        return CLAUDE_CLI_DEFAULT_MODEL
    if kind == "anthropic_api":
        from rillet.providers.anthropic_api import DEFAULT_MODEL

        return DEFAULT_MODEL
    if kind == "gemini":
        from rillet.providers.gemini import DEFAULT_MODEL as GEMINI_DEFAULT

        return GEMINI_DEFAULT
    return None


def price_for(model: str | None) -> ModelPrice | None:
    """The workflow's own price for `model` when it gives one, else the table's."""
    if not model:
        return None
    own = _WORKFLOW_PRICES.get()
    if own:
        key = model.strip().lower().removeprefix("models/")
        if key in own:
            return own[key]
    return find_price(model)


def workflow_prices(pricing: Mapping[str, Prices | Mapping[str, Any]]) -> dict[str, ModelPrice]:
    """`pricing:` from a workflow as price-table entries, by lower-case model id."""
    entries: dict[str, ModelPrice] = {}
    for model_id, raw in (pricing or {}).items():
        prices = raw if isinstance(raw, Prices) else Prices.model_validate(raw)
        entries[model_id.lower()] = ModelPrice(id=model_id, family="workflow",
                                               base=_per_token(prices))  # type: ignore[arg-type]
    return entries


def use_prices(pricing: Mapping[str, Any] | None) -> None:
    """For the rest of this task (a run): the workflow's prices come first."""
    _WORKFLOW_PRICES.set(workflow_prices(pricing or {}))


def refuse_unpriced_budget(workflow: Any) -> None:
    """With `max_cost_usd`, every model the run may use needs a price; else RunRefused."""
    if getattr(workflow, "max_cost_usd", None) is None:
        return
    from rillet.steps import MODEL_STEPS

    own = workflow_prices(getattr(workflow, "pricing", None) or {})
    missing: dict[str, list[str]] = {}
    for step in _model_steps(workflow.steps, MODEL_STEPS):
        kind = MODEL_STEPS[step.type].provider_kind(step)
        model = _step_model(step) or default_model(kind)
        if model and "{" in model:
            continue  # a template: known only when the step runs
        if model and model.lower() not in own and find_price(model) is None:
            missing.setdefault(model, []).append(step.name)
    if missing:
        names = "; ".join(f"'{m}' (step {', '.join(steps)})" for m, steps in missing.items())
        first = next(iter(missing))
        raise RunRefused(
            f"max_cost_usd is set, but rillet has no price for {names}, so the budget could "
            f"not be kept; give the prices in the workflow, e.g. pricing: {{{first}: "
            f"{{input: 3.0, output: 15.0}}}} (USD per million tokens)")


def _model_steps(steps: Any, model_steps: Mapping[str, Any]) -> Iterator[Any]:
    for step in steps or ():
        if getattr(step, "type", None) in model_steps:
            yield step
        lists = step.child_lists() if hasattr(step, "child_lists") else ()  # containers
        for _, children in lists:
            yield from _model_steps(children, model_steps)


def _step_model(step: Any) -> str | None:
    model = getattr(step, "model", None)
    if model:
        return str(model)
    options = getattr(step, "claude_options", None)
    return getattr(options, "model", None) if options is not None else None
