"""claude_smart: pipeline_ex's presets as Claude Agent SDK options."""

from __future__ import annotations

import textwrap

import pytest

import rillet
from rillet.errors import WorkflowError
from rillet.providers.base import ModelRequest
from rillet.providers.claude_agent.options import build_options
from rillet.workflow.loader import loads_workflow


def load(steps: str, defaults: str = "") -> list:
    text = "workflow:\n  name: smart\n" + textwrap.indent(textwrap.dedent(defaults), "  ") \
        + "  steps:\n" + textwrap.indent(textwrap.dedent(steps), "    ")
    return loads_workflow(text).steps


def options(step) -> dict:
    return step.claude_options.model_dump(exclude_none=True)


def test_each_preset_becomes_claude_agent_options_and_a_timeout():
    analysis, production, chat = load("""\
        - {name: a, type: claude_smart, preset: analysis, prompt: go}
        - {name: p, type: claude_smart, preset: production, prompt: go}
        - {name: c, type: claude_smart, preset: chat, prompt: go}
        """)
    assert options(analysis)["allowed_tools"] == ["Read", "Glob", "Grep"]
    assert options(analysis)["max_turns"] == 5 and options(analysis)["model"] == "opus"
    assert analysis.timeout_s == 180.0
    assert options(production)["fallback_model"] == "sonnet"
    assert options(chat)["tools"] == []  # no tools at all for a chat
    sdk = build_options(ModelRequest(step="c", prompt="", options=options(chat)), env={})
    assert sdk.tools == [] and sdk.max_turns == 15


def test_the_step_wins_over_the_defaults_which_win_over_the_preset():
    step, = load("""\
        - name: s
          type: claude_smart
          preset: development
          timeout_s: 5
          claude_options: {system_prompt: Be brief.}
          prompt: go
        """, defaults="""\
        defaults:
          claude_options: {max_turns: 2, model: haiku}
        """)
    opts = options(step)
    assert opts["system_prompt"] == "Be brief."  # the step's
    assert opts["max_turns"] == 2 and opts["model"] == "haiku"  # the defaults'
    assert opts["allowed_tools"] == ["Write", "Edit", "Read", "Bash", "Glob", "Grep"]
    assert step.timeout_s == 5


def test_defaults_claude_preset_and_then_development_are_the_fallbacks():
    chosen, = load("- {name: s, type: claude_smart, prompt: go}\n",
                   defaults="defaults: {claude_preset: test}\n")
    plain, = load("- {name: s, type: claude_smart, prompt: go}\n")
    assert chosen.preset == "test" and options(chosen)["max_turns"] == 3
    assert plain.preset == "development" and plain.timeout_s == 300.0


def test_an_unknown_preset_is_refused_with_the_known_ones():
    with pytest.raises(WorkflowError, match="'development', 'production', 'analysis', "
                                            "'chat' or 'test'"):
        load("- {name: s, type: claude_smart, preset: turbo, prompt: go}\n")


async def test_a_claude_smart_step_streams_like_a_claude_step(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text("workflow:\n  name: s\n  steps:\n"
                    "    - {name: s, type: claude_smart, preset: chat, prompt: say hello,"
                    " mock: Hello there.}\n")
    result = await rillet.run_async(path, mode="mock", output_dir=tmp_path / "o",
                                    workspace_dir=tmp_path / "w")
    assert result.success and result["s"].text == "Hello there."
