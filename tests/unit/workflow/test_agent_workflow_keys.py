"""pipeline_ex's workflow keys for the Claude agent: hooks, memory_config and
enable_context_management reach every Claude Agent step, each as what the SDK and its
CLI really offer; a value that cannot be honoured is refused with the reason."""

from __future__ import annotations

import textwrap

import pytest

from rillet.errors import WorkflowError
from rillet.providers.base import ModelRequest
from rillet.providers.claude_agent.options import build_options, cli_env, compaction_env
from rillet.workflow.loader import loads_workflow


def load(text: str):
    return loads_workflow(textwrap.dedent(text), source="flow.yaml")


def problems_of(text: str) -> list[str]:
    with pytest.raises(WorkflowError) as info:
        load(text)
    return info.value.problems


def test_workflow_hooks_reach_every_claude_agent_step_and_a_step_may_set_its_own():
    wf = load("""
        workflow:
          name: t
          hooks:
            PreToolUse:
              - {matcher: Bash, hooks: [validate_bash, log-tool-use]}
              - {matcher: "*", hooks: [AUDIT_TOOL]}
            PostToolUse:
              - {hooks: [log_tool_use]}
          steps:
            - {name: a, type: claude_smart, prompt: x}
            - name: b
              type: claude
              prompt: x
              claude_options:
                hooks: {PreToolUse: [{matcher: Write, hooks: [audit_tool]}]}
            - {name: c, type: claude, provider: anthropic_api, prompt: x}
    """)
    a, b, c = wf.steps
    assert a.claude_options.model_dump(exclude_none=True)["hooks"] == {
        "PreToolUse": [{"matcher": "Bash", "hooks": ["validate_bash", "log_tool_use"]},
                       {"matcher": "*", "hooks": ["audit_tool"]}],
        "PostToolUse": [{"hooks": ["log_tool_use"]}]}
    assert b.claude_options.hooks.model_dump(exclude_none=True) == {
        "PreToolUse": [{"matcher": "Write", "hooks": ["audit_tool"]}]}
    assert "hooks" not in type(c.claude_options).model_fields  # the Messages API runs no tools


@pytest.mark.parametrize(("hooks", "message"), [
    ("{PreToolUse: [{matcher: Bash, hooks: [format_code]}]}",
     "unknown hook 'format_code': rillet's hooks are built in (validate_bash, log_tool_use, "
     "audit_tool), and no other code runs as a hook"),
    ("{PostToolUse: [{hooks: [validate_bash]}]}",
     "validate_bash can only stop a call before it runs: put it under PreToolUse"),
    ("{Stop: [{hooks: [log_tool_use]}]}", "unknown option"),
    ("{PreToolUse: [{matcher: Bash, hooks: []}]}", "at least 1 item"),
])
def test_hooks_rillet_cannot_honour_are_refused_at_validate_time(hooks, message):
    problems = problems_of(f"""
        workflow:
          name: t
          hooks: {hooks}
          steps:
            - {{name: a, type: claude, prompt: x}}
    """)
    assert len(problems) == 1 and problems[0].startswith("flow.yaml:4: hooks")
    assert message in problems[0]


def test_memory_config_becomes_the_clis_own_compaction_settings():
    wf = load("""
        workflow:
          name: t
          memory_config: {max_context_length: 150000, auto_compact: true,
                          compact_threshold: 100000}
          steps:
            - {name: a, type: claude, prompt: x}
    """)
    memory = wf.steps[0].claude_options.memory_config.model_dump(exclude_none=True)
    env = compaction_env(memory)
    assert env == {"CLAUDE_CODE_AUTO_COMPACT_WINDOW": "150000",
                   "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE": "66.6667", "DISABLE_AUTO_COMPACT": "",
                   "DISABLE_COMPACT": ""}
    request = ModelRequest(step="a", prompt="x", mode="live",
                           options={"memory_config": memory})
    assert cli_env(request, sim_home=None, base_url=None).items() >= env.items()
    assert compaction_env({"auto_compact": False}) == {"DISABLE_AUTO_COMPACT": "1"}


def test_memory_config_and_a_step_env_that_disagree_are_refused_when_the_step_runs():
    from rillet.errors import ProviderError

    request = ModelRequest(step="a", prompt="x", mode="live", options={
        "memory_config": {"auto_compact": False}, "env": {"DISABLE_AUTO_COMPACT": "0"}})
    with pytest.raises(ProviderError, match="sets DISABLE_AUTO_COMPACT, which memory_config"):
        cli_env(request, sim_home=None, base_url=None)


@pytest.mark.parametrize(("memory", "message"), [
    ("{max_context_length: 50000}", "greater than or equal to 100000"),
    ("{compact_threshold: 90000}", "compact_threshold needs max_context_length"),
    ("{max_context_length: 150000, compact_threshold: 160000}",
     "compact_threshold must be below max_context_length"),
    ("{auto_compact: false, max_context_length: 150000, compact_threshold: 100000}",
     "auto_compact: false never does"),
    ("{auto_compact: sometimes}", "valid boolean"),
])
def test_memory_config_values_the_cli_cannot_honour_are_refused(memory, message):
    [problem] = problems_of(f"""
        workflow:
          name: t
          memory_config: {memory}
          steps:
            - {{name: a, type: claude, prompt: x}}
    """)
    assert problem.startswith("flow.yaml:4: memory_config") and message in problem


def sources(wf):
    return [step.claude_options.setting_sources for step in wf.steps]


def test_context_management_loads_claude_md_through_the_project_settings_source():
    wf = load("""
        workflow:
          name: t
          enable_context_management: true
          steps:
            - {name: a, type: claude, prompt: x}
            - {name: b, type: claude, prompt: x, claude_options: {setting_sources: [user, project]}}
            - name: group
              type: parallel
              steps: [{name: c, type: claude_smart, prompt: x}]
    """)
    assert [s.claude_options.setting_sources for s in wf.steps[:2]] == [
        ["project"], ["user", "project"]]
    assert wf.steps[2].steps[0].claude_options.setting_sources == ["project"]
    options = build_options(ModelRequest(step="a", prompt="x", mode="live", options={
        "setting_sources": ["project"]}), env={})
    assert options.setting_sources == ["project"]


def test_context_management_off_reads_no_settings_files():
    wf = load("""
        workflow:
          name: t
          enable_context_management: false
          steps:
            - {name: a, type: claude, prompt: x}
    """)
    assert sources(wf) == [[]]


@pytest.mark.parametrize(("enabled", "given", "message"), [
    ("true", "[user]", "without project, so it would read no CLAUDE.md"),
    ("false", "[project]", "and project loads CLAUDE.md; keep one"),
])
def test_context_management_that_contradicts_setting_sources_is_refused(enabled, given,
                                                                       message):
    [problem] = problems_of(f"""
        workflow:
          name: t
          enable_context_management: {enabled}
          setting_sources: {given}
          steps:
            - {{name: a, type: claude, prompt: x}}
    """)
    assert problem.startswith("flow.yaml:4: enable_context_management: ") and message in problem


async def test_workflow_hooks_refuse_a_scripted_call_in_a_mock_run_and_are_recorded(tmp_path):
    import json

    import rillet

    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent("""
        workflow:
          name: guarded
          hooks:
            PreToolUse: [{matcher: Bash, hooks: [validate_bash]}]
          steps:
            - name: tidy
              type: claude
              prompt: Remove the build folder.
              mock:
                text: I could not remove it.
                tool_use: {name: Bash, input: {command: "rm -rf build"}}
                timing: {pattern: fast}
    """))
    result = await rillet.run_async(flow, mode="mock", output_dir=tmp_path / "out",
                                    workspace_dir=tmp_path / "ws", default_handlers=[])
    assert result.success
    (use,) = result.results["tidy"].tool_uses
    assert use["is_error"] and "dangerous pattern (rm -rf)" in use["result"]
    assert [(h["hook"], h["decision"]) for h in use["hooks"]] == [("validate_bash", "deny")]
    logged = [json.loads(line) for line in
              next((tmp_path / "out").glob("*/events.jsonl")).read_text().splitlines()]
    hooks = [e for e in logged if e.get("type") == "ToolHook"]
    assert [(e["hook"], e["decision"]) for e in hooks] == [("validate_bash", "deny")]
