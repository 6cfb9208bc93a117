"""Values a workflow reads and a caller must give: noted by validate, refused by a run
without them, before any step starts."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rillet
from rillet.cli import app
from rillet.errors import RunRefused, WorkflowError
from rillet.workflow.caller_values import missing, needed, note
from rillet.workflow.loader import loads_workflow

CHILD = """
workflow:
  name: child
  inputs: {mood: calm}
  global_vars: {own: 1}
  steps:
    - {name: a, type: echo, value: "{{ inputs.item }} {{ inputs.mood }} {{ global_vars.own }}"}
    - {name: b, type: echo, value: "{{ global_vars.parent_var }}"}
    - {name: c, type: echo, value: "{{ inputs.maybe | default('none') }}",
       condition: "inputs.count > 1"}
    - {name: d, type: set_variable, scope: global, variables: {made: 2}}
    - {name: e, type: echo, value: "{{ global_vars.made }}"}
"""


def load(text: str):
    return loads_workflow(textwrap.dedent(text), source="flow.yaml")


def test_needed_lists_what_the_file_reads_and_never_sets():
    assert needed(load(CHILD)) == [("inputs", "item"), ("global_vars", "parent_var"),
                                   ("inputs", "count")]


def test_missing_are_the_needed_values_the_caller_did_not_give():
    workflow = load(CHILD)
    assert missing(workflow, {"item": 1}, {"parent_var": "p"}) == ["inputs.count"]
    assert missing(workflow, {"item": 1, "count": 2}, {"parent_var": "p"}) == []


def test_validate_notes_them_and_passes(tmp_path):
    path = tmp_path / "child.yaml"
    path.write_text(textwrap.dedent(CHILD))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "note: it reads inputs.item, inputs.count, which the caller gives (--input " \
           "NAME=VALUE, or the inputs: of a pipeline step); reads global_vars.parent_var, " \
           "which only a parent pipeline step with config.inherit_context: true gives; a run " \
           "without them is refused" in result.output


def test_a_file_that_needs_nothing_has_no_note():
    assert note(load("workflow:\n  name: t\n  steps:\n    - {name: a, type: echo, value: 1}"
                     )) is None


def test_a_global_var_close_to_a_set_one_is_still_a_typo():
    with pytest.raises(WorkflowError) as info:
        load("""
            workflow:
              name: t
              global_vars: {topic: x}
              steps:
                - {name: a, type: echo, value: "{{ global_vars.topik }}"}
        """)
    assert "global_vars.topik is never set" in info.value.problems[0]
    assert "did you mean global_vars.topic?" in info.value.problems[0]


async def test_a_run_without_them_is_refused_before_any_step(tmp_path):
    path = tmp_path / "child.yaml"
    path.write_text(textwrap.dedent(CHILD))
    with pytest.raises(RunRefused) as info:
        await rillet.run_async(path, mode="mock", output_dir=tmp_path / "out",
                               inputs={"item": "x"})
    assert str(info.value) == (
        "workflow 'child' cannot run on its own: it reads inputs.count, which nothing gives: "
        "run it with --input count=VALUE; it reads global_vars.parent_var, which neither its "
        "global_vars nor a set_variable step sets: it is meant to run as a nested pipeline "
        "whose parent has them (config.inherit_context: true)")
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_the_run_with_exit_2(tmp_path):
    path = tmp_path / "child.yaml"
    path.write_text("workflow:\n  name: c\n  steps:\n"
                    "    - {name: a, type: echo, value: '{{ inputs.item }}'}\n")
    result = CliRunner().invoke(app, ["run", "--mode", "mock", "-q", "--output-dir",
                                      str(tmp_path / "out"), str(path)])
    assert result.exit_code == 2
    assert "run it with --input item=VALUE" in result.output
    ok = CliRunner().invoke(app, ["run", "--mode", "mock", "-q", "--output-dir",
                                  str(tmp_path / "out"), str(path), "-i", "item=x"])
    assert ok.exit_code == 0, ok.output


async def test_a_nested_pipeline_without_them_fails_before_its_steps(tmp_path: Path):
    (tmp_path / "child.yaml").write_text(textwrap.dedent(CHILD))
    parent = tmp_path / "parent.yaml"
    parent.write_text(textwrap.dedent("""
        workflow:
          name: parent
          steps:
            - {name: sub, type: pipeline, pipeline_file: child.yaml, inputs: {item: 1}}
    """))
    result = await rillet.run_async(parent, mode="mock", output_dir=tmp_path / "out")
    assert result.status == "failed"
    assert "the nested pipeline 'child' reads global_vars.parent_var, inputs.count, which " \
           "this step does not give (add them to its inputs: or set " \
           "config.inherit_context: true)" in result.error
    assert result.results["sub"].children == {}  # none of the child's steps ran


def test_names_read_inside_containers_count_once():
    workflow = load("""
        workflow:
          name: t
          steps:
            - name: each
              type: for_loop
              iterator: x
              data_source: "{{ inputs.items }}"
              steps:
                - {name: a, type: echo, value: "{{ loop.x }} {{ inputs.label }}"}
                - {name: b, type: echo, value: "{{ inputs.label }}"}
    """)
    assert needed(workflow) == [("inputs", "items"), ("inputs", "label")]


def test_a_test_echo_step_serializes_without_warnings():
    import warnings

    workflow = load("workflow:\n  name: t\n  steps:\n    - {name: a, type: test_echo, value: 1}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert workflow.model_dump(mode="json")["steps"][0]["type"] == "test_echo"
