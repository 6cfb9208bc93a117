"""A step's stream with a retry policy: attempts with backoff, then fallbacks.

`robust_stream` opens the step's stream; when it fails with an error the policy retries
(a ProviderError whose kind the policy names), it waits (exponential, linear or fixed
backoff) and opens it again, `retries` times; then each fallback (another model, another
provider) once. Every new attempt starts with a `StreamRetry(whole=True)` that says why,
so listeners see each attempt, the step's text is only the last attempt's, and the token
and cost totals go on adding up across attempts.

Two of pipeline_ex's ways are kept too: `inner` retries each attempt on its own (its
provider's `claude_options.retry_config`, nested in the step's), and `simplified_prompt`,
when everything failed, asks that prompt instead and notes on the request that the answer
is a fallback's (`ModelRequest.degraded`), so the step is recorded as degraded.
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
    inner: RetryPolicy | None = None  # each attempt retried so first
    simplified_prompt: str | None = None  # asked once when everything else failed
    label: str = ""  # names the policy in its StreamRetry reasons

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
    """The error kinds the conditions name; none given: the transient ones; an empty
    list: none."""
    if conditions is None:
        return TRANSIENT
    if not conditions:
        return frozenset()
    return frozenset().union(*(CONDITIONS[name] for name in conditions))


OpenStream = Callable[[ModelRequest, str], AsyncIterator[Event]]


async def robust_stream(open_stream: OpenStream, request: ModelRequest, kind: str,
                        policy: RetryPolicy, *, sleep: Callable[[float], Any] = asyncio.sleep
                        ) -> AsyncIterator[Event]:
    inner = policy.inner

    def open_attempt(attempt: ModelRequest, attempt_kind: str) -> AsyncIterator[Event]:
        if inner is None:
            return open_stream(attempt, attempt_kind)
        return robust_stream(open_stream, attempt, attempt_kind, inner, sleep=sleep)

    step = request.step
    plan = [Target(kind, request)] * (policy.retries + 1)
    plan += [fallback_target(request, kind, fallback) for fallback in policy.fallbacks]
    simplified = None if policy.simplified_prompt is None else Target(
        kind, dataclasses.replace(request, prompt=policy.simplified_prompt, output_schema=None,
                                  options={**request.options, "max_turns": 1}))
    spent = NOTHING
    number = 0
    first_failure = ""
    while True:
        target = plan[number] if number < len(plan) else simplified
        assert target is not None
        usage: Usage | None = None
        try:  # pipeline_ex asked the simplified prompt once, without retries
            opened = open_stream(target.request, target.kind) if target is simplified \
                else open_attempt(target.request, target.kind)
            async with aclosing(opened) as events:
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
            if target is simplified:
                request.degraded = None
                raise ProviderError(f"{first_failure}; the simplified prompt "
                                    f"(fallback_action) failed too: {exc}",
                                    kind=exc.kind) from exc
            go_on = number + 1 < len(plan) and policy.retries_on(exc)
            if not go_on and simplified is None:
                raise
            spent = plus(spent, usage)
            where = f"{policy.label}: " if policy.label else ""
            failed, delay = number + 1, 0.0
            if not go_on:
                first_failure = str(exc)
                request.degraded = (f"the step failed ({exc}); its text answers the "
                                    f"simplified prompt {policy.simplified_prompt!r} instead "
                                    f"(fallback_action: simplified_prompt)")
                reason = (f"{where}attempt {failed} failed ({exc}); asking the simplified "
                          f"prompt instead (fallback_action: simplified_prompt)")
                number = len(plan)
            elif number < policy.retries:
                delay = policy.delay(failed)
                reason = (f"{where}attempt {failed} failed ({exc}); retry {failed} of "
                          f"{policy.retries} in {delay:g} s")
                number = failed
            else:
                reason = (f"{where}attempt {failed} failed ({exc}); falling back to "
                          f"{plan[failed].describe()}")
                number = failed
            yield StreamRetry(step, failed, reason, whole=True)
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
