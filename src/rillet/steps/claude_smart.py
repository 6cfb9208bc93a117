"""`type: claude_smart`: a claude step whose options start from one of pipeline_ex's presets.

The preset is the step's `preset`, else `defaults.claude_preset`, else `development`. Its
options sit under `defaults.claude_options`, which sit under the step's own; its timeout
applies when neither the step nor the defaults set one. pipeline_ex's preset keys with no
meaning here are left out: rillet always streams, always counts cost, and its telemetry is
the workflow's `telemetry`, so `verbose`, `debug_mode`, `output_format`,
`telemetry_enabled` and `cost_tracking` change nothing; a preset's `retry_config` is left
out too (a claude_robust step's own `claude_options.retry_config` is honoured).
The step runs like `type: claude` through the Claude Agent SDK.
"""

from __future__ import annotations

from typing import Any

from rillet.steps.claude import build_request, provider_kind

__all__ = ["PRESETS", "PRESET_TIMEOUT_S", "build_request", "preset_options", "provider_kind"]

PRESET_NAMES = ("development", "production", "analysis", "chat", "test")
DEFAULT_PRESET = "development"
# claude_extract and claude_session start from analysis, claude_robust from production, as
# in pipeline_ex.
_DEFAULT_OF_TYPE = {"claude_extract": "analysis", "claude_session": "analysis",
                    "claude_robust": "production"}


def default_preset(step_type: str) -> str:
    return _DEFAULT_OF_TYPE.get(step_type, DEFAULT_PRESET)

# pipeline_ex's OptionBuilder presets, as Claude Agent SDK options. Its "Search" tool is
# not one Claude Code has; Glob and Grep are what it searches with.
PRESETS: dict[str, dict[str, Any]] = {
    "development": {
        "max_turns": 20, "model": "sonnet",
        "allowed_tools": ["Write", "Edit", "Read", "Bash", "Glob", "Grep"],
        "system_prompt": "You are a helpful development assistant. Focus on writing clean, "
                         "maintainable code.",
    },
    "production": {
        "max_turns": 10, "model": "opus", "fallback_model": "sonnet", "allowed_tools": ["Read"],
        "system_prompt": "You are a production assistant. Prioritize safety and reliability.",
    },
    "analysis": {
        "max_turns": 5, "model": "opus", "allowed_tools": ["Read", "Glob", "Grep"],
        "system_prompt": "You are a code analysis expert. Provide detailed, structured "
                         "analysis with specific recommendations.",
    },
    "chat": {
        "max_turns": 15, "tools": [],
        "system_prompt": "You are a helpful assistant. Provide clear, concise responses.",
    },
    "test": {
        "max_turns": 3, "allowed_tools": ["Read"],
        "system_prompt": "You are a test assistant. Provide predictable, structured responses.",
    },
}
PRESET_TIMEOUT_S = {"development": 300.0, "production": 120.0, "analysis": 180.0,
                    "chat": 60.0, "test": 30.0}


def preset_options(name: str) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, list) else value
            for key, value in PRESETS[name].items()}
