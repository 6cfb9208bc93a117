"""`type: claude_robust`: a claude step with a retry policy and fallbacks.

The request is a claude step's, with a RetryPolicy from `retry_config` and `fallbacks`;
the provider pool runs the attempts (rillet.providers.robust). pipeline_ex's
`fallback_action`s are refused: each of them answers with made-up text as if the step had
succeeded, where rillet records a failure as a failure.
"""

from __future__ import annotations

from typing import Any

from rillet.engine.context import RunContext
from rillet.providers.base import ModelRequest
from rillet.providers.robust import RetryPolicy, policy_kinds
from rillet.steps import claude

provider_kind = claude.provider_kind


def build_request(step: Any, ctx: RunContext, mode: str) -> ModelRequest:
    request = claude.build_request(step, ctx, mode)
    request.retry_policy = retry_policy(step)
    return request


def retry_policy(step: Any) -> RetryPolicy:
    config = step.retry_config
    return RetryPolicy(
        retries=config.max_retries, backoff=config.backoff_strategy,
        base_delay_s=config.base_delay_ms / 1000, max_delay_s=config.max_delay_ms / 1000,
        kinds=policy_kinds(config.retry_conditions),
        fallbacks=tuple(f.model_dump(exclude_none=True) for f in step.fallbacks))
