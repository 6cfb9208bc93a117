"""Loading workflow files: the examples, every kind of problem (file:line: key: message),
the reference system's placement of streaming options, and the JSON Schema."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from rillet.errors import WorkflowError
from rillet.workflow.compat import MOVED_FROM_CLAUDE_OPTIONS
from rillet.workflow.loader import json_schema, load_workflow, loads_workflow
from rillet.workflow.schema import (
    STEP_TYPES, ClaudeApiStep, ClaudeStep, GeminiStep, SetVariableStep,
)

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))


def problems_of(text: str) -> list[str]:
    with pytest.raises(WorkflowError) as info:
        loads_workflow(textwrap.dedent(text), source="flow.yaml")
    return info.value.problems


def one_problem(text: str) -> str:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_loads(path, monkeypatch):
    monkeypatch.syspath_prepend(str(path.parent))  # the handler modules some examples name
    workflow = load_workflow(path)
    assert workflow.name == path.stem
    assert workflow.source_path == str(path.resolve())
    assert workflow.steps


def test_the_streaming_example_takes_streaming_options_from_claude_options():
    workflow = load_workflow(EXAMPLES[0].parent / "claude_streaming_example.yaml")
    (step,) = workflow.steps
    assert step.handler_specs() == [("console", {})]
    assert step.async_streaming is True
    assert step.claude_options.model_dump(exclude_none=True) == {"max_turns": 1}


def test_step_types_and_their_fields():
    workflow = loads_workflow(textwrap.dedent("""
        workflow:
          name: kinds
          steps:
            - name: agent
              type: claude
              model: claude-sonnet-4-5
              prompt: "Hi"
            - name: api
              type: claude
              provider: anthropic_api
              claude_options: {max_tokens: 300, temperature: 0.2}
              prompt: [{type: static, content: "Hi"}, "and more"]
            - name: gem
              type: gemini
              system_instruction: Be brief.
              token_budget: {max_output_tokens: 100, thinking_budget: 0}
              prompt:
                - type: file
                  path: notes.md
                - type: previous_response
                  step: api
                  extract: summary.first
            - name: vars
              type: set_variable
              scope: global
              variables: {n: 1}
    """))
    agent, api, gem, variables = workflow.steps
    assert type(agent) is ClaudeStep and agent.provider == "claude_agent"
    assert agent.prompt[0].type == "static" and agent.prompt[0].content == "Hi"
    assert type(api) is ClaudeApiStep and api.provider == "anthropic_api" and api.type == "claude"
    assert api.claude_options.model_dump(exclude_none=True) == {"max_tokens": 300,
                                                                "temperature": 0.2}
    assert [p.content for p in api.prompt] == ["Hi", "and more"]
    assert type(gem) is GeminiStep and gem.token_budget.thinking_budget == 0
    assert gem.prompt[1].extract == "summary.first"
    assert type(variables) is SetVariableStep and variables.scope == "global"
    assert workflow.source_path is None
    assert workflow.workspace_dir == "./workspace" and workflow.checkpoint_dir == "./checkpoints"
    assert workflow.defaults.output_dir == "outputs" and workflow.checkpoint_enabled is False


def test_a_mock_reply_given_as_text_is_stored_as_a_plain_dict():
    workflow = loads_workflow(textwrap.dedent("""
        workflow:
          name: m
          steps:
            - {name: a, type: claude, prompt: x, mock: "Hello"}
            - {name: b, type: gemini, prompt: x, mock: {text: Hi, timing: {pattern: fast}}}
    """))
    assert workflow.steps[0].mock == {"text": "Hello"}
    assert workflow.steps[1].mock == {"text": "Hi", "timing": {"pattern": "fast"}}


# --- problems: each names file, line and key ---------------------------------------------------


def test_misspelt_step_key_gets_a_did_you_mean():
    assert one_problem("""
        workflow:
          name: bad
          steps:
            - name: s
              type: claude
              prompt: "x"
              stream_handlr: console
    """) == "flow.yaml:8: steps[0].stream_handlr: unknown option; did you mean stream_handler?"


def test_misspelt_key_three_levels_deep():
    assert one_problem("""
        workflow:
          name: deep
          steps:
            - name: s
              type: claude
              prompt: "x"
              claude_options:
                thinking: {type: enabled, budget_tokns: 2000}
    """) == ("flow.yaml:9: steps[0].claude_options.thinking.budget_tokns: unknown option; "
             "did you mean budget_tokens?")


def test_bad_type_names_the_value():
    assert one_problem("""
        workflow:
          name: t
          steps:
            - name: s
              type: gemini
              prompt: "x"
              token_budget:
                max_output_tokens: lots
    """) == ("flow.yaml:9: steps[0].token_budget.max_output_tokens: Input should be a valid "
             "integer, unable to parse string as an integer (got 'lots')")


def test_unknown_step_type():
    assert one_problem("""
        workflow:
          name: t
          steps:
            - name: s
              type: claud
              prompt: "x"
    """) == ("flow.yaml:6: steps[0].type: unknown step type 'claud'; did you mean claude? "
             f"(step types: {', '.join(STEP_TYPES)})")


def test_missing_step_type_and_missing_required_keys():
    problems = problems_of("""
        workflow:
          steps:
            - name: s
              prompt: "x"
            - name: t
              type: set_variable
    """)
    assert problems == [
        "flow.yaml:2: name: required, but missing",
        "flow.yaml:4: steps[0].type: missing: every step needs a type "
        f"({', '.join(STEP_TYPES)})",
        "flow.yaml:6: steps[1].variables: required, but missing",
    ]


def test_unknown_prompt_part_type():
    assert "flow.yaml:8: steps[0].prompt[0].type: unknown prompt part type 'statik'; did you " \
           "mean static?" in one_problem("""
        workflow:
          name: t
          steps:
            - name: s
              type: claude
              prompt:
                - type: statik
                  content: x
    """)


def test_yaml_syntax_error_names_the_line():
    problem = one_problem("""
        workflow:
          name: t
          steps:
            - name: s
              prompt: "unclosed
    """)
    assert problem.startswith("flow.yaml:7: invalid YAML")
    assert "found unexpected end of stream" in problem


def test_yaml_syntax_error_from_a_file_names_the_path(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("workflow:\n  name: [x\n")
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    assert info.value.problems[0].startswith(f"{path}:3: invalid YAML")


def test_duplicate_yaml_keys_are_not_silently_dropped():
    assert one_problem("""
        workflow:
          name: a
          name: b
          steps:
            - {name: s, type: set_variable, variables: {v: 1}}
    """) == "flow.yaml:4: name: duplicate key (first at line 3); keep one"


def test_bad_condition():
    problem = one_problem("""
        workflow:
          name: t
          steps:
            - name: s
              type: claude
              prompt: "x"
              condition: "steps.s.text = 'x'"
    """)
    assert problem.startswith("flow.yaml:8: steps[0].condition: condition ")
    assert "unexpected '='; compare with ==" in problem


def test_condition_referring_to_an_unknown_or_later_step():
    problems = problems_of("""
        workflow:
          name: t
          steps:
            - name: first
              type: claude
              prompt: "x"
              condition: "steps.second.text contains 'x'"
            - name: second
              type: claude
              prompt: "x"
              condition: "steps.frist.text contains 'x'"
    """)
    assert problems == [
        "flow.yaml:8: steps[0].condition: condition: step 'second' runs after this one; "
        "only earlier steps can be used",
        "flow.yaml:12: steps[1].condition: condition: there is no step named 'frist'; "
        "did you mean first?",
    ]


def test_bad_template_syntax():
    problem = one_problem("""
        workflow:
          name: t
          steps:
            - name: s
              type: claude
              prompt:
                - type: static
                  content: "Hello {{ global_vars.x"
    """)
    assert problem.startswith("flow.yaml:9: steps[0].prompt[0].content: template ")
    assert "syntax error" in problem


def test_template_names_are_checked_against_the_workflow():
    problems = problems_of("""
        workflow:
          name: t
          global_vars: {topic: rivers}
          steps:
            - name: a
              type: claude
              prompt: "{{ global_var.topic }} {{ global_vars.topc }} {{ state.count }}"
            - name: count
              type: set_variable
              variables: {count: "{{ steps.a.text | length }}", who: "{{ steps.b.text }}"}
            - name: b
              type: gemini
              prompt: "{{ state.count }} {{ workflow.run_id }} {{ inputs.anything }}"
              claude: 1
    """)
    assert problems == [
        "flow.yaml:8: steps[0].prompt[0].content: template: unknown name 'global_var'; "
        "did you mean global_vars?",
        "flow.yaml:8: steps[0].prompt[0].content: template: global_vars.topc is never set: "
        "it is not in global_vars and no earlier set_variable step (scope: global) sets it; "
        "did you mean global_vars.topic?",
        "flow.yaml:8: steps[0].prompt[0].content: template: state.count is never set: "
        "no earlier set_variable step sets it",
        "flow.yaml:11: steps[1].variables.who: template: step 'b' runs after this one; only "
        "earlier steps can be used",
        "flow.yaml:15: steps[2].claude: unknown option; expected one of: name, condition, "
        "mode, prompt, output_to_file, async_streaming, stream_handler, "
        "stream_handler_opts, stream_buffer_size, collect_stream, timeout_s, role, verbose, "
        "output_format, mock, output_schema, type, model, system_instruction, token_budget, "
        "functions, max_function_rounds",
    ]


def test_templates_may_walk_the_mappings_themselves():
    workflow = loads_workflow(textwrap.dedent("""
        workflow:
          name: t
          steps:
            - {name: a, type: set_variable, variables: {x: 1}}
            - name: b
              type: claude
              prompt: "{% for s in steps.values() %}{{ s.text }}{% endfor %} {{ state.get('y', 0) }}"
    """), source="flow.yaml")
    assert workflow.steps[1].prompt[0].content.startswith("{% for s in steps.values() %}")


def test_previous_response_must_name_an_earlier_step():
    problems = problems_of("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude
              prompt:
                - type: previous_response
                  step: b
            - name: b
              type: claude
              prompt:
                - type: previous_response
                  step: c
    """)
    assert problems == [
        "flow.yaml:9: steps[0].prompt[0].step: previous_response: step 'b' runs after this "
        "one; only earlier steps can be used",
        "flow.yaml:14: steps[1].prompt[0].step: previous_response: there is no step named "
        "'c'",
    ]


def test_duplicate_and_malformed_step_names():
    problems = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: set_variable, variables: {x: 1}}
            - {name: a, type: set_variable, variables: {y: 1}}
            - {name: "has space", type: set_variable, variables: {z: 1}}
    """)
    assert problems == [
        "flow.yaml:6: steps[1].name: duplicate step name 'a' (also steps[0]); step names "
        "must be unique",
        "flow.yaml:7: steps[2].name: step name 'has space' may use only letters, digits, _ "
        "and - (templates and conditions refer to it as steps.NAME)",
    ]


def test_unknown_stream_handler():
    problem = one_problem("""
        workflow:
          name: t
          steps:
            - name: s
              type: claude
              prompt: "x"
              stream_handler: [console, fiel]
    """)
    # (other tests may register handlers of their own, so the list is not pinned whole)
    assert problem.startswith("flow.yaml:8: steps[0].stream_handler[1]: unknown stream "
                              "handler 'fiel'; did you mean file? (built-in: buffer, callback, "
                              "console, ")
    assert problem.endswith("; or a dotted path to a handler class)")


def test_bad_stream_handler_option():
    assert one_problem("""
        workflow:
          name: t
          steps:
            - name: s
              type: claude
              prompt: "x"
              stream_handler: file
              stream_handler_opts:
                file:
                  path: out.txt
                  formt: text
    """) == ("flow.yaml:12: steps[0].stream_handler_opts.file.formt: unknown option; did you "
             "mean format?")


def test_options_for_a_handler_the_step_does_not_use():
    assert one_problem("""
        workflow:
          name: t
          steps:
            - name: s
              type: claude
              prompt: "x"
              stream_handler: console
              stream_handler_opts:
                file: {path: out.txt}
    """) == ("flow.yaml:10: steps[0].stream_handler_opts.file: options for handler 'file', "
             "which this step does not stream to (stream_handler: console); add it to "
             "stream_handler or remove these options")


def test_output_to_file_must_stay_inside_the_output_dir():
    problems = problems_of("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, prompt: x, output_to_file: ../up.txt}
            - {name: b, type: claude, prompt: x, output_to_file: /etc/passwd}
            - {name: c, type: claude, prompt: x, output_to_file: "{{ state.x }}.txt"}
    """)
    assert problems == [
        "flow.yaml:5: steps[0].output_to_file: '../up.txt' must be a relative path inside the "
        "output directory (no leading / and no ..)",
        "flow.yaml:6: steps[1].output_to_file: '/etc/passwd' must be a relative path inside "
        "the output directory (no leading / and no ..)",
        "flow.yaml:7: steps[2].output_to_file: template: state.x is never set: no earlier "
        "set_variable step sets it",
    ]


def test_collect_stream_false_is_refused_with_the_reason():
    problem = one_problem("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, prompt: x, collect_stream: false}
    """)
    assert problem.startswith("flow.yaml:5: steps[0].collect_stream: cannot be false: rillet "
                              "always keeps the step's text")


def test_claude_options_are_checked_per_provider():
    problems = problems_of("""
        workflow:
          name: t
          steps:
            - name: agent
              type: claude
              prompt: x
              claude_options: {max_tokens: 100}
            - name: api
              type: claude
              provider: anthropic_api
              prompt: x
              claude_options: {max_turns: 2, temprature: 0.5}
    """)
    assert problems[0] == (
        "flow.yaml:8: steps[0].claude_options.max_tokens: unknown option for provider "
        "claude_agent: it is an option of provider anthropic_api; claude_agent takes: "
        + ", ".join([*__import__("rillet.workflow.schema").workflow.schema.ClaudeOptions
                     .model_fields, *MOVED_FROM_CLAUDE_OPTIONS]))
    assert problems[1].startswith(
        "flow.yaml:13: steps[1].claude_options.max_turns: unknown option for provider "
        "anthropic_api: it is an option of provider claude_agent; anthropic_api takes: ")
    assert problems[2] == ("flow.yaml:13: steps[1].claude_options.temprature: unknown option "
                           "for provider anthropic_api; did you mean temperature?")


def test_unknown_provider():
    problem = one_problem("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, provider: openai, prompt: x}
    """)
    assert problem == ("flow.yaml:5: steps[0].provider: unknown provider 'openai'; a claude "
                       "step uses claude_agent (the default) or anthropic_api")


def test_bad_mock_reply():
    assert one_problem("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude
              prompt: x
              mock:
                text: hi
                timing: {pattern: fastest}
    """) == ("flow.yaml:10: steps[0].mock.timing.pattern: Input should be 'fast', 'slow', "
             "'chunked' or 'realistic' (got 'fastest')")


def test_streaming_option_in_both_places_is_an_error():
    assert one_problem("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude
              prompt: x
              stream_handler: console
              claude_options:
                stream_handler: file
    """) == ("flow.yaml:10: steps[0].claude_options.stream_handler: also set as "
             "steps[0].stream_handler; keep one (rillet reads it at the step level)")


def test_a_moved_option_is_reported_where_it_was_written():
    assert one_problem("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude
              prompt: x
              claude_options:
                max_turns: 1
                stream_buffer_size: none
    """) == ("flow.yaml:10: steps[0].claude_options.stream_buffer_size: Input should be a "
             "valid integer, unable to parse string as an integer (got 'none')")


def test_reference_keys_rillet_does_not_take_say_why():
    problem = one_problem("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude
              prompt: x
              stream_file_path: out.txt
    """)
    assert problem == ("flow.yaml:8: steps[0].stream_file_path: not supported: use "
                       "stream_handler: file with stream_handler_opts: {file: {path: ...}} "
                       "(see docs/migration-from-pipeline-ex.md)")


def test_every_problem_is_reported_at_once():
    problems = problems_of("""
        workflow:
          name: many
          defaults:
            claude_options: {max_turnz: 2}
          steps:
            - name: a
              type: claude
              prompt: x
              condition: "(true"
            - name: b
              type: gemini
              prompt: x
              token_budget: {top_k: zero}
            - name: c
              type: claude
              prompt: "{{ steps.nope.text }}"
              stream_handler: consol
    """)
    assert [p.split(": ")[0] + ": " + p.split(": ")[1] for p in problems] == [
        "flow.yaml:5: defaults.claude_options.max_turnz",
        "flow.yaml:10: steps[0].condition",
        "flow.yaml:14: steps[1].token_budget.top_k",
        "flow.yaml:17: steps[2].prompt[0].content",
        "flow.yaml:18: steps[2].stream_handler[0]",
    ]


@pytest.mark.parametrize(("text", "problem"), [
    ("", "flow.yaml:1: the file is empty; a workflow file starts with 'workflow:'"),
    ("- a\n- b\n", "flow.yaml:1: a workflow file is a mapping with one key, 'workflow'"),
    ("workflow:\n  name: x\n  steps: []\n",
     "flow.yaml:3: steps: a workflow needs at least one step"),
])
def test_files_that_are_not_workflows(text, problem):
    assert problem in problems_of(text)


def test_top_level_typo():
    assert problems_of("workflw:\n  name: x\n") == [
        "flow.yaml:1: workflow: required, but missing",
        "flow.yaml:1: workflw: unknown option; did you mean workflow?",
    ]


def test_an_unreadable_file_is_a_workflow_error(tmp_path):
    with pytest.raises(WorkflowError, match="cannot read the workflow"):
        load_workflow(tmp_path / "absent.yaml")


# --- the JSON Schema ---------------------------------------------------------------------------


def test_json_schema_describes_the_file_with_step_types_as_variants():
    schema = json_schema()
    assert schema["required"] == ["workflow"]
    workflow = schema["$defs"]["Workflow"]
    assert workflow["properties"]["steps"]["minItems"] == 1
    variants = workflow["properties"]["steps"]["items"]["oneOf"]
    refs = {v["$ref"].rsplit("/", 1)[1] for v in variants}
    containers = {"ParallelStep": "parallel", "ParallelClaudeStep": "parallel_claude",
                  "ForLoopStep": "for_loop", "WhileLoopStep": "while_loop",
                  "SwitchStep": "switch", "PipelineStep": "pipeline",
                  "ClaudeBatchStep": "claude_batch"}
    plain = {"DataTransformStep": "data_transform", "FileOpsStep": "file_ops"}
    assert refs == {"ClaudeStep", "ClaudeApiStep", "ClaudeSmartStep", "ClaudeRobustStep",
                    "ClaudeExtractStep", "ClaudeSessionStep", "GeminiStep",
                    "GeminiInstructorStep", "SetVariableStep", "EchoStep", *containers, *plain}
    types = {name: schema["$defs"][name]["properties"]["type"]["const"]
             for name in refs - {"EchoStep"}}
    assert types == {"ClaudeStep": "claude", "ClaudeApiStep": "claude",
                     "ClaudeSmartStep": "claude_smart", "ClaudeRobustStep": "claude_robust",
                     "ClaudeExtractStep": "claude_extract", "ClaudeSessionStep": "claude_session",
                     "GeminiStep": "gemini", "GeminiInstructorStep": "gemini_instructor",
                     "SetVariableStep": "set_variable", **containers, **plain}
    assert schema["$defs"]["EchoStep"]["properties"]["type"]["enum"] == ["echo", "test_echo"]
    assert schema["$defs"]["ClaudeStep"]["additionalProperties"] is False
    assert "source_path" not in json.dumps(schema)


def test_json_schema_accepts_the_short_forms():
    props = json_schema()["$defs"]["ClaudeStep"]["properties"]
    prompt_types = {v.get("type") for v in props["prompt"]["anyOf"]}
    assert prompt_types == {"string", "array"}
    handler_types = {v.get("type") for v in props["stream_handler"]["anyOf"]}
    assert {"string", "array"} <= handler_types


def test_an_editor_using_the_json_schema_accepts_the_examples_and_flags_typos():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    validator = jsonschema.Draft202012Validator(json_schema())
    for name in ("showcase.yaml", "claude_streaming_advanced.yaml"):
        data = yaml.safe_load((EXAMPLES[0].parent / name).read_text())
        assert list(validator.iter_errors(data)) == [], name
    data = yaml.safe_load((EXAMPLES[0].parent / "showcase.yaml").read_text())
    data["workflow"]["steps"][0]["stream_handlr"] = "console"
    errors = list(validator.iter_errors(data))
    assert errors and "stream_handlr" in str(errors[0].message) + str(
        [e.message for e in errors[0].context or []])


def test_a_step_with_schema_problems_still_has_its_condition_and_prompt_checked():
    problems = problems_of("""
        workflow:
          name: t
          steps:
            - name: a
              type: claude
              prompt: "{{ steps.zz.text }}"
              condition: "state.x =="
              timeout_s: soon
    """)
    assert [p.split(": ")[1] for p in problems] == [
        "steps[0].prompt[0].content", "steps[0].condition", "steps[0].timeout_s"]
    assert "there is no step named 'zz'" in problems[0]


def test_options_in_defaults_may_be_for_a_handler_only_a_nested_step_uses(tmp_path):
    wf = loads_workflow(textwrap.dedent("""
        workflow:
          name: t
          defaults:
            stream_handler_opts: {file: {path: all.txt}}
          steps:
            - name: each
              type: for_loop
              data_source: [1]
              steps:
                - {name: a, type: claude, prompt: x, stream_handler: [file]}
    """), source="flow.yaml")
    assert wf.steps[0].steps[0].stream_handler == ["file"]


def test_a_variable_set_inside_a_loop_is_known_after_it():
    wf = loads_workflow(textwrap.dedent("""
        workflow:
          name: t
          steps:
            - name: each
              type: for_loop
              data_source: [1]
              steps:
                - {name: keep, type: set_variable, variables: {last: "{{ loop.item }}"}}
            - {name: after, type: echo, value: "{{ state.last }}"}
    """), source="flow.yaml")
    assert [s.name for s in wf.steps] == ["each", "after"]
