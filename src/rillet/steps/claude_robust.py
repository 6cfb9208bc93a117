"""`type: claude_robust`: a claude step with a retry policy and fallbacks.

Its options start from a preset like claude_smart's (`production` unless one is named, as
in pipeline_ex). The request is a claude step's, with a RetryPolicy from `retry_config`
and `fallbacks`; the provider pool runs the attempts (rillet.providers.robust). A
`claude_options.retry_config` (pipeline_ex's provider-level retries) retries each of those
attempts on its own, nested as it was in pipeline_ex.

`retry_config.fallback_action` says what happens when everything failed. pipeline_ex
answered with canned text as if the step had succeeded; rillet keeps the record true:

- graceful_degradation, emergency_response (another canned text in pipeline_ex) and
  cached_response (which pipeline_ex fell back to graceful_degradation for): the step is
  recorded as `degraded`, with its error and the text so far, and the run goes on
  (`recover`). A later step that takes its response fails, naming it.
- simplified_prompt: the model is asked pipeline_ex's simplified prompt once and the step
  is recorded as `degraded` with that answer and why (`finish_result`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rillet.engine.context import RunContext
from rillet.errors import ProviderError
from rillet.providers.base import ModelRequest
from rillet.providers.robust import RetryPolicy, policy_kinds
from rillet.result import StepResult
from rillet.steps import claude
from rillet.workflow.schema import DEGRADING_FALLBACK_ACTIONS

provider_kind = claude.provider_kind


def build_request(step: Any, ctx: RunContext, mode: str) -> ModelRequest:
    request = claude.build_request(step, ctx, mode)
    request.options.pop("retry_config", None)  # rillet's policy, not an Agent SDK option
    request.retry_policy = retry_policy(step)
    return request


def retry_policy(step: Any) -> RetryPolicy:
    config = step.retry_config
    simplified = f"Provide a brief, simple response for: {step.name}" \
        if config.fallback_action == "simplified_prompt" else None
    return RetryPolicy(
        retries=config.max_retries, backoff=config.backoff_strategy,
        base_delay_s=config.base_delay_ms / 1000, max_delay_s=config.max_delay_ms / 1000,
        kinds=policy_kinds(config.retry_conditions),
        fallbacks=tuple(f.model_dump(exclude_none=True) for f in step.fallbacks),
        inner=attempt_policy(step.claude_options.retry_config), simplified_prompt=simplified)


def attempt_policy(config: Any) -> RetryPolicy | None:
    """pipeline_ex's provider retries (claude_options.retry_config): `max_retries` tries in
    all, 1 s apart (linear: 1 s, 2 s, ...; exponential: 1 s, 2 s, 4 s, ...)."""
    if config is None or config.max_retries <= 1:
        return None
    return RetryPolicy(retries=config.max_retries - 1, backoff=config.backoff_strategy,
                       base_delay_s=1.0, kinds=policy_kinds(config.retry_on),
                       label="claude_options.retry_config")


def recover(step: Any, partial: StepResult, exc: BaseException) -> StepResult | None:
    """graceful_degradation: a provider failure or a timeout leaves the step degraded
    (its partial result, marked so) instead of failing the run; anything else still fails
    it (a cancelled run, a spent budget, a bad request)."""
    if step.retry_config.fallback_action not in DEGRADING_FALLBACK_ACTIONS:
        return None
    if not isinstance(exc, (ProviderError, TimeoutError)) or partial.status == "cancelled":
        return None
    return dataclasses.replace(partial, status="degraded", error=(
        f"{partial.error} (fallback_action: {step.retry_config.fallback_action}: the run "
        f"went on without this step's answer)"))


def finish_result(step: Any, result: StepResult, ctx: RunContext | None = None,
                  request: ModelRequest | None = None) -> StepResult:
    if request is None or request.degraded is None:
        return result
    return dataclasses.replace(result, status="degraded", error=request.degraded)
