"""Apply `workflow.defaults` to the steps, so the engine only ever reads the steps.

What the step sets wins. Per key:

- `claude_options`: each claude step gets the default keys its provider takes
  (claude_agent or anthropic_api) that it does not set itself; `env` and `mcp_servers`
  merge one level deep (the step's entries win), every other value is replaced whole.
- `gemini_model`: the `model` of gemini steps that name none; `gemini_token_budget`:
  merged under each gemini step's `token_budget`, key by key.
- `mode`, `async_streaming`, `stream_handler`, `stream_buffer_size`, `timeout_s`,
  `verbose`, `output_format`: model steps (claude, gemini) that do not set them.
- `stream_handler_opts`: for each handler a model step streams to, the default options of
  that handler under the step's own (key by key).
- `claude_preset`: the preset of claude_smart steps that name none; a preset's options
  come under the defaults' and the step's (rillet.steps.claude_smart).
- `output_dir` is the run's, read by the executor.
"""

from __future__ import annotations

from typing import Any

from rillet.workflow.schema import (
    ClaudeSmartStep, ClaudeStep, ContainerBase, Defaults, GeminiStep, ModelStepBase, TokenBudget,
)

MERGED_OPTIONS = ("env", "mcp_servers")  # dict-valued options merged key by key
_STEP_LEVEL = ("mode", "stream_buffer_size", "timeout_s", "verbose", "output_format")


def apply_defaults(step: Any, defaults: Defaults, environment: str | None = None) -> Any:
    """A copy of `step` with the defaults filled in (the step itself is not changed);
    `environment` is workflow.environment.mode, the preset of environment-aware steps."""
    if isinstance(step, ContainerBase):  # a container's children get them too
        return step.map_children(lambda child: apply_defaults(child, defaults, environment))
    if not isinstance(step, ModelStepBase):
        return step
    if isinstance(step, ClaudeSmartStep):
        step = _with_preset(step, defaults, environment)
    update: dict[str, Any] = {}
    for key in _STEP_LEVEL:
        if getattr(step, key) is None and getattr(defaults, key) is not None:
            update[key] = getattr(defaults, key)
    if "async_streaming" not in step.model_fields_set and defaults.async_streaming is not None:
        update["async_streaming"] = defaults.async_streaming
    handlers = step.stream_handler if step.stream_handler is not None else defaults.stream_handler
    if step.stream_handler is None and handlers is not None:
        update["stream_handler"] = list(handlers)
    opts = handler_options(handlers or [], step.stream_handler_opts, defaults)
    if opts != step.stream_handler_opts:
        update["stream_handler_opts"] = opts
    if isinstance(step, ClaudeStep):
        options = _claude_options(step, defaults)
        if options is not None:
            update["claude_options"] = options
    elif isinstance(step, GeminiStep):
        if step.model is None and defaults.gemini_model is not None:
            update["model"] = defaults.gemini_model
        if defaults.gemini_token_budget is not None:
            budget = {**defaults.gemini_token_budget.model_dump(exclude_none=True),
                      **(step.token_budget.model_dump(exclude_none=True)
                         if step.token_budget else {})}
            update["token_budget"] = TokenBudget.model_validate(budget)
    return step.model_copy(update=update) if update else step


def handler_options(handlers: list[str], own: dict[str, dict[str, Any]],
                    defaults: Defaults) -> dict[str, dict[str, Any]]:
    """Each listed handler's options: the defaults' under the step's own."""
    merged: dict[str, dict[str, Any]] = {}
    for name in handlers:
        base = defaults.stream_handler_opts.get(name)
        mine = own.get(name)
        if base is None and mine is None:
            continue
        merged[name] = {**(base or {}), **(mine or {})}
    return merged


def _with_preset(step: ClaudeSmartStep, defaults: Defaults,
                 environment: str | None) -> ClaudeSmartStep:
    """The step with its preset's options under its own (and under the defaults', which
    _claude_options lays between them: only keys neither sets come from the preset)."""
    from rillet.steps.claude_smart import PRESET_TIMEOUT_S, default_preset, preset_options

    from_environment = environment if step.environment_aware else None
    name = (step.preset or defaults.claude_preset or from_environment
            or default_preset(step.type))
    given = {**defaults.claude_options.model_dump(exclude_unset=True),
             **step.claude_options.model_dump(exclude_unset=True)}
    preset = {k: v for k, v in preset_options(name).items() if k not in given}
    own = step.claude_options.model_dump(exclude_unset=True)
    update: dict[str, Any] = {"preset": name,
                              "claude_options": type(step.claude_options).model_validate(
                                  {**preset, **own})}
    if step.timeout_s is None and defaults.timeout_s is None:
        update["timeout_s"] = PRESET_TIMEOUT_S[name]
    return step.model_copy(update=update)


def _claude_options(step: ClaudeStep, defaults: Defaults) -> Any:
    options_type = type(step.claude_options)
    given = defaults.claude_options.model_dump(exclude_unset=True)
    inherited = {k: v for k, v in given.items() if k in options_type.model_fields}
    if not inherited:
        return None
    own = step.claude_options.model_dump(exclude_unset=True)
    merged = {**inherited, **own}
    for key in MERGED_OPTIONS:
        if isinstance(inherited.get(key), dict) and isinstance(own.get(key), dict):
            merged[key] = {**inherited[key], **own[key]}
    return options_type.model_validate(merged)


def allow_skills(step: Any) -> Any:
    """`workflow.enable_skills`: a Claude Agent step that lists its allowed tools may also
    use the Skill tool (as pipeline_ex added it); a step without the list allows every
    tool already."""
    if not isinstance(step, ClaudeStep) or step.provider != "claude_agent":
        return step
    tools = step.claude_options.allowed_tools
    if tools is None or "Skill" in tools:
        return step
    options = step.claude_options.model_copy(update={"allowed_tools": [*tools, "Skill"]})
    return step.model_copy(update={"claude_options": options})


def context_management(step: Any, enabled: bool) -> tuple[Any, str | None]:
    """`workflow.enable_context_management` on a Claude Agent step (a container's
    children too): (the step, or a problem). The CLI reads CLAUDE.md only from the
    `project` settings source, so true needs it (and gives [project] when the step names
    no sources); false gives [] (no settings files, no CLAUDE.md) and refuses a step that
    names project."""
    if isinstance(step, ContainerBase):
        problems: list[str] = []

        def apply(child: Any) -> Any:
            child, problem = context_management(child, enabled)
            if problem:
                problems.append(problem)
            return child

        mapped = step.map_children(apply)
        return mapped, (problems[0] if problems else None)
    if not isinstance(step, ClaudeStep) or step.provider != "claude_agent":
        return step, None
    sources = step.claude_options.setting_sources
    if sources is None:
        options = step.claude_options.model_copy(
            update={"setting_sources": ["project"] if enabled else []})
        return step.model_copy(update={"claude_options": options}), None
    if enabled and "project" not in sources:
        return step, (f"step '{step.name}' reads setting_sources {sources}, without "
                      f"project, so it would read no CLAUDE.md; add project or drop "
                      f"enable_context_management")
    if not enabled and "project" in sources:
        return step, (f"false, but step '{step.name}' reads setting_sources {sources}, and "
                      f"project loads CLAUDE.md; keep one")
    return step, None
