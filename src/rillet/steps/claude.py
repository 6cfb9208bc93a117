"""`type: claude`: the Claude Agent SDK by default, or the Messages API with
`provider: anthropic_api`."""

from __future__ import annotations

from typing import Any

from rillet.engine.context import RunContext
from rillet.providers.base import ModelRequest
from rillet.steps.prompt import build_prompt
from rillet.structured.schema import for_step
from rillet.workflow.templates import render_value

# Keys the engine itself honours rather than the provider.
_ENGINE_KEYS = {"timeout_s", "model", "system_prompt"}


def provider_kind(step: Any) -> str:
    return step.provider


def build_request(step: Any, ctx: RunContext, mode: str) -> ModelRequest:
    template_ctx = ctx.template_context()
    options = step.claude_options.model_dump(exclude_none=True)
    options = render_value(options, template_ctx)
    model = step.model or options.get("model")
    request = ModelRequest(
        step=step.name,
        prompt=build_prompt(step, ctx),
        model=render_value(model, template_ctx) if model else None,
        system_prompt=options.get("system_prompt"),
        options={k: v for k, v in options.items() if k not in _ENGINE_KEYS},
        mode=mode,  # type: ignore[arg-type]
        workspace_dir=str(ctx.workspace_dir),
        mock=dict(step.mock or {}),
        output_schema=for_step(step, ctx.base_dir),
    )
    continued = next((p for p in step.prompt if p.type == "claude_continue"), None)
    if continued is not None:
        from rillet.steps.claude_session import continue_session

        continue_session(request, render_value(continued.session_id, template_ctx), ctx)
    return request
