"""pipeline_ex's keys: each is honoured (moved, converted, applied) or refused with a
reason that points to the migration guide; none is accepted and then ignored."""

from __future__ import annotations

import textwrap

import pytest

from rillet.errors import WorkflowError
from rillet.streaming.handler import resolve
from rillet.streaming.handlers.console_presets import verbose_options
from rillet.workflow.loader import loads_workflow


def load(text: str):
    return loads_workflow(textwrap.dedent(text), source="flow.yaml")


def problems_of(text: str) -> list[str]:
    with pytest.raises(WorkflowError) as info:
        load(text)
    return info.value.problems


@pytest.mark.parametrize(("option", "seconds"), [("timeout_ms: 300000", 300),
                                                 ("timeout_seconds: 7200", 7200)])
def test_pipeline_ex_timeouts_become_the_step_timeout(option, seconds):
    wf = load(f"""
        workflow:
          name: t
          steps:
            - name: a
              type: claude
              prompt: x
              claude_options: {{max_turns: 1, {option}}}
    """)
    assert wf.steps[0].timeout_s == seconds
    assert "timeout_ms" not in wf.steps[0].claude_options.model_dump()


def test_a_bad_timeout_is_reported_where_it_was_written():
    assert problems_of("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude
              prompt: x
              claude_options:
                timeout_ms: soon
    """) == ["flow.yaml:9: steps[0].claude_options.timeout_ms: Input should be a valid "
             "number, unable to parse string as a number (got 'soon')"]


def test_verbose_and_output_format_move_from_claude_options_and_defaults():
    wf = load("""
        workflow:
          name: t
          defaults:
            claude_output_format: json
            claude_options: {verbose: false}
          steps:
            - {name: a, type: claude, prompt: x}
            - name: b
              type: claude
              prompt: x
              claude_options: {verbose: true, output_format: text}
    """)
    assert (wf.steps[0].verbose, wf.steps[0].output_format) == (False, "json")
    assert (wf.steps[1].verbose, wf.steps[1].output_format) == (True, "text")


def test_an_output_format_rillet_does_not_know_is_refused():
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, prompt: x, claude_options: {output_format: xml}}
    """)
    assert problem.startswith("flow.yaml:5: steps[0].claude_options.output_format: Input "
                              "should be 'text', 'json', 'stream-json' or 'stream_json'")


def test_verbose_sets_the_console_detail_and_the_handlers_own_options_win():
    assert verbose_options("console", {}, False) == {"show_tools": False,
                                                     "show_thinking": False}
    assert verbose_options("debug", {"show_tools": True}, False) == {
        "show_tools": True, "show_thinking": False}
    assert verbose_options("file", {"path": "x"}, False) == {"path": "x"}


def test_options_that_ask_for_what_rillet_always_does_accept_only_true():
    wf = load("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, prompt: x,
               claude_options: {print: true, pass_through_streaming: true}}
    """)
    assert wf.steps[0].claude_options.model_dump(exclude_unset=True) == {}
    assert wf.notes == []
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, prompt: x,
               claude_options: {pass_through_streaming: false}}
    """)
    assert problem.startswith("flow.yaml:6: steps[0].claude_options.pass_through_streaming: "
                              "can only be true")


def test_print_false_is_accepted_with_a_note_that_it_changes_nothing():
    wf = load("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, prompt: x, claude_options: {print: false, max_turns: 2}}
    """)
    assert wf.steps[0].claude_options.model_dump(exclude_unset=True) == {"max_turns": 2}
    assert wf.notes == ["flow.yaml:5: steps[0].claude_options.print: print: false changes "
                        "nothing: the Claude CLI always runs non-interactively (--print), in "
                        "rillet as in pipeline_ex, whose code never read this key (see "
                        "docs/migration-from-pipeline-ex.md)"]
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, prompt: x, claude_options: {print: maybe}}
    """)
    assert problem == ("flow.yaml:5: steps[0].claude_options.print: must be true or false "
                       "(got 'maybe')")


def test_role_is_a_checked_label():
    wf = load("""
        workflow:
          name: t
          steps:
            - {name: a, type: gemini, role: brain, prompt: x}
    """)
    assert wf.steps[0].role == "brain"
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: gemini, role: boss, prompt: x}
    """)
    assert "steps[0].role: Input should be 'brain' or 'muscle'" in problem


def test_workflow_level_agent_sdk_keys_reach_every_claude_step():
    wf = load("""
        workflow:
          name: t
          setting_sources: [project]
          mcp_servers:
            files: {type: stdio, command: npx, args: [server]}
          agents:
            reviewer: {description: Reviews code, prompt: You review., tools: [Read]}
          steps:
            - name: a
              type: claude
              prompt: x
              claude_options:
                mcp_servers: {web: {type: http, url: "http://localhost:1"}}
            - {name: b, type: gemini, prompt: x}
    """)
    options = wf.steps[0].claude_options
    assert options.setting_sources == ["project"]
    assert set(options.mcp_servers) == {"files", "web"}  # merged, the step's own kept
    assert options.agents["reviewer"].tools == ["Read"]


def test_agents_become_sdk_agent_definitions():
    from rillet.providers.base import ModelRequest
    from rillet.providers.claude_agent import build_options

    request = ModelRequest(step="a", prompt="x", options={"agents": {
        "reviewer": {"description": "Reviews code", "prompt": "You review.",
                     "tools": ["Read"], "model": None}}}, mode="mock")
    agent = build_options(request, env={}).agents["reviewer"]
    assert (agent.description, agent.prompt, agent.tools) == ("Reviews code", "You review.",
                                                              ["Read"])


def test_enable_skills_adds_the_skill_tool_to_listed_tools():
    wf = load("""
        workflow:
          name: t
          enable_skills: true
          steps:
            - {name: a, type: claude, prompt: x, claude_options: {allowed_tools: [Read]}}
            - {name: b, type: claude, prompt: x}
    """)
    assert wf.steps[0].claude_options.allowed_tools == ["Read", "Skill"]
    assert wf.steps[1].claude_options.allowed_tools is None  # every tool allowed already


def test_input_is_read_as_inputs_and_environment_mode_is_kept():
    wf = load("""
        workflow:
          name: t
          input: {topic: rivers}
          environment: {mode: production}
          steps:
            - {name: a, type: gemini, prompt: "{{ topic }}"}
    """)
    assert wf.inputs == {"topic": "rivers"}
    assert wf.environment.mode == "production"


def test_flat_handler_options_belong_to_the_one_handler_named():
    wf = load("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude
              prompt: x
              stream_handler: simple
              stream_handler_opts: {show_stats: false}
    """)
    assert wf.steps[0].stream_handler_opts == {"simple": {"show_stats": False}}
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude
              prompt: x
              stream_handler: [console, file]
              stream_handler_opts: {show_stats: false}
    """)
    assert "steps[0].stream_handler_opts: options written flat belong to one handler" in problem


def test_flat_handler_options_are_checked_against_the_handler():
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude
              prompt: x
              stream_handler: simple
              stream_handler_opts: {show_timestamps: true}
    """)
    assert problem.startswith("flow.yaml:9: steps[0].stream_handler_opts")
    assert "show_timestamps: unknown option" in problem


def test_simple_and_debug_are_the_console_with_other_defaults():
    simple = resolve("simple").options()
    debug = resolve("debug").options()
    assert (simple.show_header, simple.show_thinking, simple.show_tools) == (False, False, True)
    assert (debug.show_header, debug.preview_chars) == (True, 10_000)


def test_conditions_may_read_the_environment():
    wf = load("""
        workflow:
          name: t
          environment: {mode: production}
          steps:
            - {name: a, type: gemini, prompt: x, condition: "workflow.environment == 'production'"}
    """)
    assert wf.steps[0].condition == "workflow.environment == 'production'"


def test_pipeline_ex_keys_are_rewritten_inside_every_container():
    wf = load("""
        workflow:
          name: t
          steps:
            - name: fan
              type: parallel_claude
              parallel_tasks:
                - id: docs
                  prompt: x
                  claude_options: {max_turns: 1, timeout_ms: 5000, verbose: false,
                                   output_format: text}
            - name: each
              type: for_loop
              data_source: [a]
              steps:
                - name: pick
                  type: switch
                  expression: "{{ loop.item }}"
                  cases:
                    a:
                      - {name: deep, type: claude, prompt: x, claude_options: {timeout_seconds: 9}}
                  default:
                    - {name: other, type: claude, prompt: x, timeout_ms: 2000}
            - name: sub
              type: pipeline
              pipeline:
                name: inline
                steps:
                  - {name: inner, type: claude, prompt: x, claude_options: {timeout_ms: 3000}}
    """)
    [task] = wf.steps[0].steps
    assert (task.timeout_s, task.verbose, task.output_format) == (5, False, "text")
    switch = wf.steps[1].steps[0]
    assert switch.cases["a"][0].timeout_s == 9
    assert switch.default[0].timeout_s == 2
    assert wf.steps[2].pipeline["steps"][0] == {"name": "inner", "type": "claude",
                                                "prompt": "x", "claude_options": {},
                                                "timeout_s": 3}


def test_a_while_loop_keeps_its_own_timeout_seconds():
    wf = load("""
        workflow:
          name: t
          steps:
            - name: again
              type: while_loop
              condition: "loop.iteration < 2"
              timeout_seconds: 60
              steps:
                - {name: tick, type: echo, value: 1}
    """)
    assert wf.steps[0].timeout_seconds == 60


def test_container_conditions_are_checked_part_by_part():
    assert problems_of("""
        workflow:
          name: t
          steps:
            - name: again
              type: while_loop
              condition:
                or: ["loop.iteration < 2", "steps.nowhere.text"]
              steps:
                - {name: tick, type: echo, value: 1}
    """) == ["flow.yaml:8: steps[0].condition.or[1]: condition: there is no step named "
             "'nowhere'"]


def test_a_for_loops_batch_size_is_taken_and_must_be_at_least_one():
    body = """
        workflow:
          name: t
          steps:
            - name: each
              type: for_loop
              data_source: [1]
              batch_size: {size}
              steps:
                - {{name: tick, type: echo, value: 1}}
    """
    assert load(body.format(size=25)).steps[0].batch_size == 25
    [problem] = problems_of(body.format(size=0))
    assert problem.startswith("flow.yaml:8: steps[0].batch_size:")


def test_debug_mode_is_read_as_verbose_and_must_agree_with_it():
    wf = load("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, prompt: x, claude_options: {debug_mode: true}}
            - {name: b, type: claude, prompt: x, claude_options: {debug_mode: false}}
    """)
    assert (wf.steps[0].verbose, wf.steps[1].verbose) == (True, False)
    assert "debug_mode" not in wf.steps[0].claude_options.model_dump()
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, prompt: x, claude_options: {debug_mode: true},
               verbose: false}
    """)
    assert "claude_options.debug_mode: also set as steps[0].verbose" in problem


def test_a_schema_sketch_becomes_the_json_schema_of_a_claude_step_s_output():
    wf = load("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude_smart
              prompt: x
              schema:
                identity: {name: string, version: integer}
                steps:
                  - {step_name: string, dependencies: array}
                metadata: {resources: object, ready: boolean, score: number}
    """)
    assert wf.steps[0].output_schema == {
        "type": "object", "required": ["identity", "steps", "metadata"], "properties": {
            "identity": {"type": "object", "required": ["name", "version"], "properties": {
                "name": {"type": "string"}, "version": {"type": "integer"}}},
            "steps": {"type": "array", "items": {
                "type": "object", "required": ["step_name", "dependencies"], "properties": {
                    "step_name": {"type": "string"}, "dependencies": {"type": "array"}}}},
            "metadata": {"type": "object", "required": ["resources", "ready", "score"],
                         "properties": {"resources": {"type": "object"},
                                        "ready": {"type": "boolean"},
                                        "score": {"type": "number"}}}}}


def test_a_schema_sketch_on_claude_extract_is_the_shape_of_its_content():
    from rillet.steps.claude_extract import extraction_schema

    wf = load("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude_extract, prompt: x, schema: {doc: {name: string}}}
    """)
    config = wf.steps[0].extraction_config
    assert config.content_schema["properties"]["doc"]["properties"]["name"] == \
        {"type": "string"}
    assert extraction_schema(config)["properties"]["content"]["type"] == "object"


@pytest.mark.parametrize(("sketch", "where", "message"), [
    ("{name: text}", "steps[0].schema.name", "'text' is not a type name"),
    ("{items: [string, integer]}", "steps[0].schema.items", "shows one example item"),
    ("[string]", "steps[0].schema", "a schema sketch is a mapping"),
])
def test_a_sketch_that_names_no_type_is_refused_where_it_is_written(sketch, where, message):
    [problem] = problems_of(f"""
        workflow:
          name: t
          steps:
            - {{name: a, type: claude, prompt: x, schema: {sketch}}}
    """)
    assert problem.startswith(f"flow.yaml:5: {where}: ") and message in problem


def test_a_sketch_beside_an_output_schema_is_refused_as_written_twice():
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, prompt: x, schema: {name: string},
               output_schema: {type: object}}
    """)
    assert "steps[0].schema: also set as steps[0].output_schema; keep one" in problem


def test_a_schema_on_a_step_that_calls_no_model_is_refused_with_the_reason():
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: echo, value: x, schema: {name: string}}
    """)
    assert problem.startswith("flow.yaml:5: steps[0].schema: not supported: pipeline_ex read "
                              "no step key named schema")
    assert "this step calls no model" in problem


def test_a_claude_steps_options_are_its_claude_options_with_a_note():
    wf = load("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude_smart
              preset: analysis
              prompt: x
              options: {timeout_ms: 600000, max_turns: 20, allowed_tools: [Read, Write]}
              claude_options: {model: haiku}
    """)
    step = wf.steps[0]
    assert (step.claude_options.max_turns, step.claude_options.allowed_tools,
            step.claude_options.model, step.timeout_s) == (20, ["Read", "Write"], "haiku", 600)
    [note] = wf.notes
    assert note.startswith("flow.yaml:9: steps[0].options: pipeline_ex ignored a step's "
                           "options (it read only claude_options); rillet applies them as "
                           "claude_options")


def test_a_key_in_both_options_and_claude_options_is_refused():
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, prompt: x, options: {max_turns: 20},
               claude_options: {max_turns: 3}}
    """)
    assert problem == ("flow.yaml:5: steps[0].options.max_turns: also set as "
                       "claude_options.max_turns; keep one")


def test_options_are_validated_as_claude_options_at_their_own_line():
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude
              prompt: x
              options:
                max_turns: 0
    """)
    assert problem.startswith("flow.yaml:9: steps[0].options.max_turns: ")
    assert "greater than or equal to 1" in problem


def test_an_options_timeout_is_told_at_its_own_line():
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude
              prompt: x
              options:
                timeout_ms: -5
    """)
    assert problem.startswith("flow.yaml:9: steps[0].options.timeout_ms: ")


def test_options_on_a_step_that_calls_no_claude_model_are_refused():
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: echo, value: x, options: {max_turns: 2}}
    """)
    assert problem.startswith("flow.yaml:5: steps[0].options: not supported: (of a step "
                              "that calls no Claude model)")


def test_a_conversation_on_a_step_other_than_claude_session_is_refused():
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, prompt: x, conversation: [{prompt: hi}]}
    """)
    assert "steps[0].conversation: not supported: (of a step other than claude_session)" \
        in problem


def test_extract_output_format_is_format_and_validate_is_noted():
    wf = load("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude_extract
              prompt: x
              extraction_config: {output_format: structured, post_processing: [trim, validate]}
    """)
    config = wf.steps[0].extraction_config
    assert (config.format, config.post_processing) == ("structured", ["trim", "validate"])
    assert [n.split(": ")[1] for n in wf.notes] == ["steps[0].extraction_config.output_format",
                                                    "steps[0].extraction_config.post_processing"]


def test_extract_output_format_and_a_different_format_are_refused():
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude_extract, prompt: x,
               extraction_config: {output_format: json, format: text}}
    """)
    assert "steps[0].extraction_config.output_format: also set as " \
           "steps[0].extraction_config.format; keep one" in problem


def test_unknown_extract_operations_are_named_together():
    [problem] = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude_extract, prompt: x,
               extraction_config: {post_processing: [strip, check]}}
    """)
    assert "post_processing 'strip', 'check' are not supported" in problem
