"""The schema's option models match what the providers and handlers really take."""

from __future__ import annotations

from typing import get_args

from rillet.workflow.schema import (
    AnthropicOptions, ClaudeOptions, ClaudeStep, DefaultClaudeOptions, GeminiStep, TokenBudget,
)


def test_claude_options_are_exactly_the_keys_the_claude_agent_provider_maps():
    from rillet.providers.claude_agent.options import MAPPED_KEYS

    assert set(ClaudeOptions.model_fields) == set(MAPPED_KEYS)


def test_claude_option_choices_match_the_sdk():
    from claude_agent_sdk.types import EffortLevel, PermissionMode, SettingSource

    def choices(name):
        annotation = ClaudeOptions.model_fields[name].annotation
        literal = next(a for a in get_args(annotation) if a is not type(None))
        if get_args(literal) and get_args(literal)[0].__class__ is not str:  # list[Literal]
            literal = get_args(literal)[0]
        return set(get_args(literal))

    assert choices("permission_mode") == set(get_args(PermissionMode))
    assert choices("effort") == set(get_args(EffortLevel))
    assert choices("setting_sources") == set(get_args(SettingSource))


def test_anthropic_options_are_the_keys_the_messages_api_provider_takes():
    from rillet.providers.anthropic_api import OPTION_KEYS

    # `model` is the engine's: it becomes the request's model, not an option.
    assert set(AnthropicOptions.model_fields) - {"model"} == set(OPTION_KEYS)


def test_token_budget_is_what_the_gemini_provider_takes():
    from rillet.providers.gemini import OPTION_KEYS

    assert set(TokenBudget.model_fields) == set(OPTION_KEYS)


def test_default_claude_options_hold_the_keys_of_both_providers():
    assert set(DefaultClaudeOptions.model_fields) == \
        set(ClaudeOptions.model_fields) | set(AnthropicOptions.model_fields)


def test_handler_specs_pair_each_handler_with_its_options():
    step = ClaudeStep.model_validate({
        "name": "s", "type": "claude", "prompt": "x", "stream_handler": ["console", "file"],
        "stream_handler_opts": {"file": {"path": "a.txt"}}})
    assert step.handler_specs() == [("console", {}), ("file", {"path": "a.txt"})]
    single = GeminiStep.model_validate({"name": "g", "type": "gemini", "prompt": "x",
                                        "stream_handler": "jsonl"})
    assert single.stream_handler == ["jsonl"]
    assert GeminiStep.model_validate({"name": "g", "type": "gemini",
                                      "prompt": "x"}).handler_specs() == []
