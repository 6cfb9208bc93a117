"""`type: gemini`: Google's Gemini models through google-genai."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rillet import user_code
from rillet.errors import RilletError
from rillet.providers.base import ModelRequest
from rillet.steps.prompt import build_prompt
from rillet.structured.schema import for_step
from rillet.workflow.templates import render, render_value


def provider_kind(step: Any) -> str:
    return "gemini"


def build_request(step: Any, ctx: Any, mode: str) -> ModelRequest:
    template_ctx = ctx.template_context()
    budget = step.token_budget.model_dump(exclude_none=True) if step.token_budget else {}
    system = step.system_instruction
    declared = {name: ctx.gemini_functions[name] for name in step.functions or ()}
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
        functions=[{"name": name, **function.model_dump(
            exclude_none=True, exclude={"implementation"})}
            for name, function in declared.items()] or None,
        function_code=implementations(declared, ctx) or None,
        max_function_rounds=step.max_function_rounds,
    )


def implementations(declared: dict[str, Any], ctx: Any) -> dict[str, Callable[..., Any]]:
    """The Python functions the declarations name, imported now (the step runs): from the
    installed packages or the running workflow file's folder, as handlers are."""
    found: dict[str, Callable[..., Any]] = {}
    for name, function in declared.items():
        reference = function.implementation
        if reference is None:
            continue
        try:
            target = user_code.load_object(reference, folder=ctx.base_dir)
        except (ImportError, AttributeError, ValueError) as exc:
            raise RilletError(f"gemini_functions.{name}.implementation: cannot import "
                              f"'{reference}': {exc}") from exc
        if not callable(target):
            raise RilletError(f"gemini_functions.{name}.implementation: '{reference}' is a "
                              f"{type(target).__name__}, not a function")
        found[name] = target
    return found
