"""`type: gemini`: Google's Gemini models through google-genai."""

from __future__ import annotations

from typing import Any

from rillet.engine.context import RunContext
from rillet.providers.base import ModelRequest
from rillet.steps.prompt import build_prompt
from rillet.structured.schema import for_step
from rillet.workflow.templates import render, render_value


def provider_kind(step: Any) -> str:
    return "gemini"


def build_request(step: Any, ctx: RunContext, mode: str) -> ModelRequest:
    template_ctx = ctx.template_context()
    budget = step.token_budget.model_dump(exclude_none=True) if step.token_budget else {}
    system = step.system_instruction
    return ModelRequest(
        step=step.name,
        prompt=build_prompt(step, ctx),
        model=render(step.model, template_ctx) if step.model else None,
        system_prompt=render(system, template_ctx) if system else None,
        options=render_value(budget, template_ctx),
        mode=mode,  # type: ignore[arg-type]
        workspace_dir=str(ctx.workspace_dir),
        mock=dict(step.mock or {}),
        output_schema=for_step(step, ctx.base_dir),
        functions=[{"name": name, **ctx.run.workflow.gemini_functions[name].model_dump(
            exclude_none=True)} for name in step.functions] if step.functions else None,
    )
