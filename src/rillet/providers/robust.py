"""A step's stream with a retry policy: attempts with backoff, then fallbacks.

`robust_stream` opens the step's stream; when it fails with an error the policy retries
(a ProviderError whose kind the policy names), it waits (exponential, linear or fixed
backoff) and opens it again, `retries` times; then each fallback (another model, another
provider) once. Every new attempt starts with a `StreamRetry(whole=True)` that says why,
so listeners see each attempt, the step's text is only the last attempt's, and the token
and cost totals go on adding up across attempts.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from rillet.errors import ProviderError
from rillet.events import Event, ResponseComplete, StreamRetry, Usage
from rillet.providers.base import ModelRequest
from rillet.providers.totals import NOTHING, plus, with_spent

# pipeline_ex's retry condition names, as the ProviderError kinds they stand for.
CONDITIONS: dict[str, frozenset[str]] = {
    "timeout": frozenset({"timeout", "network", "incomplete"}),
    "api_error": frozenset({"api", "overloaded", "rate_limit"}),
    "rate_limit": frozenset({"rate_limit"}),
    "overloaded": frozenset({"overloaded"}),
    "network": frozenset({"network", "incomplete"}),
    "temporary_error": frozenset({"overloaded", "rate_limit", "network", "incomplete"}),
    "parsing_error": frozenset({"malformed"}),
    "max_turns": frozenset({"max_turns"}),
}
# With no retry_conditions: what may go away when asked again.
TRANSIENT = frozenset({"overloaded", "rate_limit", "network", "incomplete", "timeout",
                       "malformed"})


@dataclass(frozen=True)
class Target:
    """Where one attempt goes."""

    kind: str
    request: ModelRequest

    def describe(self) -> str:
        return f"model {self.request.model or 'default'} ({self.kind})"


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2
    backoff: str = "exponential"  # exponential | linear | fixed
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    kinds: frozenset[str] = TRANSIENT
    fallbacks: tuple[dict[str, Any], ...] = field(default_factory=tuple)  # {provider, model}

    def delay(self, retry: int) -> float:
        """Seconds before retry number `retry` (1-based)."""
        if self.backoff == "fixed":
            seconds = self.base_delay_s
        elif self.backoff == "linear":
            seconds = self.base_delay_s * retry
        else:
            seconds = self.base_delay_s * 2 ** (retry - 1)
        return min(seconds, self.max_delay_s)

    def retries_on(self, exc: BaseException) -> bool:
        return isinstance(exc, ProviderError) and exc.kind in self.kinds


def policy_kinds(conditions: list[str] | None) -> frozenset[str]:
    if not conditions:
        return TRANSIENT
    return frozenset().union(*(CONDITIONS[name] for name in conditions))


OpenStream = Callable[[ModelRequest, str], AsyncIterator[Event]]


async def robust_stream(open_stream: OpenStream, request: ModelRequest, kind: str,
                        policy: RetryPolicy, *, sleep: Callable[[float], Any] = asyncio.sleep
                        ) -> AsyncIterator[Event]:
    step = request.step
    plan = [Target(kind, request)] * (policy.retries + 1)
    plan += [fallback_target(request, kind, fallback) for fallback in policy.fallbacks]
    spent = NOTHING
    for number, target in enumerate(plan):
        usage: Usage | None = None
        try:
            async with aclosing(open_stream(target.request, target.kind)) as events:
                async for event in events:
                    kind_of = type(event)
                    if kind_of is Usage:
                        usage = event
                        event = with_spent(event, spent)
                    elif kind_of is ResponseComplete:
                        event = with_spent(event, spent)
                    yield event
            return
        except ProviderError as exc:
            if number == len(plan) - 1 or not policy.retries_on(exc):
                raise
            spent = plus(spent, usage)
            following = plan[number + 1]
            if number < policy.retries:
                delay = policy.delay(number + 1)
                reason = (f"attempt {number + 1} failed ({exc}); retry {number + 1} of "
                          f"{policy.retries} in {delay:g} s")
            else:
                delay = 0.0
                reason = (f"attempt {number + 1} failed ({exc}); falling back to "
                          f"{following.describe()}")
            yield StreamRetry(step, number + 1, reason, whole=True)
            if delay:
                await sleep(delay)


def fallback_target(request: ModelRequest, kind: str, fallback: dict[str, Any]) -> Target:
    """The request for a fallback: its model, and its provider with the options that
    provider takes (a provider's own options mean nothing to another)."""
    target_kind = fallback.get("provider") or kind
    options = request.options
    if target_kind != kind:
        options = {key: value for key, value in options.items()
                   if key in _option_keys(target_kind)}
    return Target(target_kind, dataclasses.replace(
        request, model=fallback.get("model") or (request.model if target_kind == kind else None),
        options=options))


def _option_keys(kind: str) -> frozenset[str]:
    if kind == "anthropic_api":
        from rillet.providers.anthropic_api import OPTION_KEYS

        return OPTION_KEYS
    from rillet.workflow.schema import ClaudeOptions

    return frozenset(ClaudeOptions.model_fields)
