"""`defaults` really apply: every key is merged into the steps the loader returns."""

from __future__ import annotations

import textwrap

import pytest

from rillet.errors import WorkflowError
from rillet.workflow.loader import loads_workflow


def load(text: str):
    return loads_workflow(textwrap.dedent(text), source="flow.yaml")


def test_claude_options_merge_under_the_steps_own_and_the_step_wins():
    workflow = load("""
        workflow:
          name: d
          defaults:
            claude_options:
              max_turns: 1
              system_prompt: You are terse.
              allowed_tools: [Read, Grep]
              env: {A: "1", B: "2"}
              mcp_servers: {fs: {command: mcp-fs}}
          steps:
            - name: plain
              type: claude
              prompt: x
            - name: own
              type: claude
              prompt: x
              claude_options:
                max_turns: 5
                allowed_tools: [Bash]
                env: {B: "3", C: "4"}
                mcp_servers: {web: {command: mcp-web}}
    """)
    plain, own = workflow.steps
    assert plain.claude_options.model_dump(exclude_none=True) == {
        "max_turns": 1, "system_prompt": "You are terse.", "allowed_tools": ["Read", "Grep"],
        "env": {"A": "1", "B": "2"}, "mcp_servers": {"fs": {"command": "mcp-fs"}}}
    assert own.claude_options.model_dump(exclude_none=True) == {
        "max_turns": 5, "system_prompt": "You are terse.",
        "allowed_tools": ["Bash"],  # lists are replaced whole
        "env": {"A": "1", "B": "3", "C": "4"},  # env merges key by key, the step's win
        "mcp_servers": {"fs": {"command": "mcp-fs"}, "web": {"command": "mcp-web"}},
    }


def test_each_claude_provider_gets_only_the_default_keys_it_takes():
    workflow = load("""
        workflow:
          name: d
          defaults:
            claude_options: {max_turns: 2, max_tokens: 500, system_prompt: Be kind.}
          steps:
            - {name: agent, type: claude, prompt: x}
            - {name: api, type: claude, provider: anthropic_api, prompt: x}
    """)
    agent, api = workflow.steps
    assert agent.claude_options.model_dump(exclude_none=True) == {
        "max_turns": 2, "system_prompt": "Be kind."}
    assert api.claude_options.model_dump(exclude_none=True) == {
        "max_tokens": 500, "system_prompt": "Be kind."}


def test_gemini_model_and_token_budget_defaults():
    workflow = load("""
        workflow:
          name: d
          defaults:
            gemini_model: gemini-2.5-flash
            gemini_token_budget: {max_output_tokens: 256, temperature: 0.3}
          steps:
            - {name: a, type: gemini, prompt: x}
            - name: b
              type: gemini
              model: gemini-2.5-pro
              token_budget: {temperature: 0.9, top_k: 4}
              prompt: x
    """)
    a, b = workflow.steps
    assert a.model == "gemini-2.5-flash"
    assert a.token_budget.model_dump(exclude_none=True) == {"max_output_tokens": 256,
                                                            "temperature": 0.3}
    assert b.model == "gemini-2.5-pro"
    assert b.token_budget.model_dump(exclude_none=True) == {
        "max_output_tokens": 256, "temperature": 0.9, "top_k": 4}


def test_streaming_defaults_apply_to_model_steps_that_do_not_set_them():
    workflow = load("""
        workflow:
          name: d
          defaults:
            mode: sim
            async_streaming: false
            stream_handler: [console, jsonl]
            stream_handler_opts:
              console: {show_stats: true}
              jsonl: {path: events.jsonl}
            stream_buffer_size: 32
            timeout_s: 60
          steps:
            - {name: a, type: claude, prompt: x}
            - name: b
              type: gemini
              prompt: x
              mode: mock
              async_streaming: true
              stream_handler: console
              stream_handler_opts: {console: {show_thinking: false}}
              stream_buffer_size: 4
              timeout_s: 5
            - {name: c, type: set_variable, variables: {v: 1}}
    """)
    a, b, c = workflow.steps
    assert (a.mode, a.async_streaming, a.stream_buffer_size, a.timeout_s) == \
        ("sim", False, 32, 60)
    assert a.handler_specs() == [("console", {"show_stats": True}),
                                 ("jsonl", {"path": "events.jsonl"})]
    assert (b.mode, b.async_streaming, b.stream_buffer_size, b.timeout_s) == \
        ("mock", True, 4, 5)
    # The step's own list wins; the default options of a handler it uses still apply.
    assert b.handler_specs() == [("console", {"show_stats": True, "show_thinking": False})]
    assert not hasattr(c, "stream_handler")


def test_defaults_streaming_options_in_claude_options_are_moved_like_the_reference():
    workflow = load("""
        workflow:
          name: d
          defaults:
            claude_options: {max_turns: 1, async_streaming: false, stream_handler: console}
          steps:
            - {name: a, type: claude, prompt: x}
    """)
    (a,) = workflow.steps
    assert a.async_streaming is False
    assert a.handler_specs() == [("console", {})]
    assert a.claude_options.model_dump(exclude_none=True) == {"max_turns": 1}


def test_output_dir_default_and_override():
    assert load("""
        workflow:
          name: d
          steps: [{name: a, type: set_variable, variables: {v: 1}}]
    """).defaults.output_dir == "outputs"
    assert load("""
        workflow:
          name: d
          defaults: {output_dir: build/out}
          steps: [{name: a, type: set_variable, variables: {v: 1}}]
    """).defaults.output_dir == "build/out"


def test_a_bad_default_is_reported_once_where_it_is_written():
    with pytest.raises(WorkflowError) as info:
        load("""
            workflow:
              name: d
              defaults:
                claude_options:
                  system_prompt: "{{ state.never }}"
                stream_handler_opts:
                  file: {path: a.txt}
              steps:
                - {name: a, type: claude, prompt: x}
                - {name: b, type: claude, prompt: x}
        """)
    assert info.value.problems == [
        "flow.yaml:6: defaults.claude_options.system_prompt: template: state.never is never "
        "set: no earlier set_variable step sets it",
        "flow.yaml:8: defaults.stream_handler_opts.file: options for handler 'file', which no "
        "step streams to; add it to a stream_handler or remove these options",
    ]


def test_a_required_handler_option_may_come_from_defaults_or_the_step():
    workflow = load("""
        workflow:
          name: d
          defaults:
            stream_handler_opts:
              file: {format: jsonl}
          steps:
            - name: a
              type: claude
              prompt: x
              stream_handler: file
              stream_handler_opts: {file: {path: a.jsonl}}
    """)
    assert workflow.steps[0].handler_specs() == [("file", {"format": "jsonl",
                                                           "path": "a.jsonl"})]


def test_the_loaded_steps_are_what_the_engine_reads(tmp_path):
    """The defaults reach the request the claude step builds (the reference system's CLI
    path silently dropped them)."""
    from rillet.engine.context import RunContext
    from rillet.steps import claude

    workflow = load("""
        workflow:
          name: d
          defaults:
            claude_options: {max_turns: 3, system_prompt: "About {{ global_vars.topic }}"}
          global_vars: {topic: rivers}
          steps:
            - {name: a, type: claude, prompt: "Go"}
    """)
    ctx = RunContext(workflow=workflow, run_id="r", base_dir=tmp_path, output_dir=tmp_path,
                     run_dir=tmp_path / "r", workspace_dir=tmp_path,
                     global_vars=dict(workflow.global_vars))
    request = claude.build_request(workflow.steps[0], ctx, "mock")
    assert request.options == {"max_turns": 3}
    assert request.system_prompt == "About rivers"
    assert request.prompt == "Go"


def test_an_environment_aware_step_takes_the_environments_preset_if_none_is_named():
    wf = loads_workflow(textwrap.dedent("""\
        workflow:
          name: t
          environment: {mode: production}
          steps:
            - {name: aware, type: claude_smart, prompt: x, environment_aware: true}
            - {name: named, type: claude_smart, prompt: x, environment_aware: true,
               preset: analysis}
            - {name: plain, type: claude_smart, prompt: x}
        """))
    assert [s.preset for s in wf.steps] == ["production", "analysis", "development"]
