"""pipeline_ex's template and condition forms, read without eval."""

from __future__ import annotations

import textwrap

import pytest

from rillet.errors import WorkflowError
from rillet.result import StepResult
from rillet.workflow.conditions import ConditionError, check, check_item, evaluate
from rillet.workflow.loader import loads_workflow
from rillet.workflow.templates import TemplateError, check as check_template, render, \
    render_value


@pytest.fixture
def ctx() -> dict:
    return {
        "steps": {"review": StepResult("review", text='{"score": 8, "tags": ["a", "b"], '
                                                      '"file": "lib/app.ex"}'),
                  "draft": StepResult("draft", text="Plain words.")},
        "state": {"count": 2}, "global_vars": {"topic": "rivers", "count": 9},
        "inputs": {"code_file": "src/app.py"},
        "workflow": {"name": "t", "run_id": "r", "environment": "test"},
        "timestamp": "20260102-030405",
    }


def test_steps_name_result_is_the_json_answer_else_the_text(ctx):
    assert render_value("{{ steps.review.result.score }}", ctx) == 8
    assert render("{{ steps.review.result }}", ctx) == \
        '{"score": 8, "tags": ["a", "b"], "file": "lib/app.ex"}'
    assert render("{{ steps.draft.result }}", ctx) == "Plain words."


def test_a_mapping_or_list_in_text_is_written_as_json(ctx):
    assert render("tags: {{ steps.review.data.tags }}", ctx) == 'tags: ["a", "b"]'


def test_bare_names_are_state_then_global_vars_then_inputs(ctx):
    assert render("{{ count }} {{ topic }} {{code_file}}", ctx) == "2 rivers src/app.py"


def test_an_unset_bare_name_says_how_to_set_it(ctx):
    with pytest.raises(TemplateError) as info:
        render("Review {{ pipeline_request }}", ctx)
    assert "'pipeline_request' is not set" in str(info.value)
    assert "--input pipeline_request=..." in str(info.value)


def test_timestamp_and_environment_are_names(ctx):
    assert render("out_{{ timestamp }}.md {{ workflow.environment }}", ctx) == \
        "out_20260102-030405.md test"


@pytest.mark.parametrize(("expr", "expected"), [
    ("{{ state.count < global_vars.count }}", True),
    ("review.score >= 8", True),
    ("review.result.score > 8", False),
    ("steps.review.result.file matches '\\\\.ex$'", True),
    ("review.score between 1 and 8", True),
    ("review.score between 9 and 10", False),
    ("length(review.tags) == 2", True),
    ("draft", True),
    ("workflow.environment == 'test'", True),
])
def test_pipeline_ex_condition_forms(ctx, expr, expected):
    assert evaluate(expr, ctx) is expected


def test_conditions_as_and_or_not_mappings_and_lists(ctx):
    assert evaluate({"and": ["review.score > 7", {"not": "state.count > 5"}]}, ctx) is True
    assert evaluate({"or": ["false", {"and": ["true", "draft"]}]}, ctx) is True
    assert evaluate(["true", "review.score < 3"], ctx) is False


def test_a_bad_regular_expression_is_a_condition_error(ctx):
    with pytest.raises(ConditionError) as info:
        evaluate("draft.text matches '('", ctx)
    assert "is not a regular expression" in str(info.value)


def test_a_misspelt_root_is_still_an_error_not_a_step():
    with pytest.raises(ConditionError) as info:
        check("stat.count > 1")
    assert "did you mean state?" in str(info.value)


def test_item_conditions_read_keys_of_the_item():
    cond = check_item("status == 'done' and value > 3")
    assert cond.evaluate({"item": {"status": "done"}, "value": 4}) is True
    assert cond.evaluate({"item": {"status": "open"}, "value": 4}) is False


def load_problems(text: str) -> list[str]:
    with pytest.raises(WorkflowError) as info:
        loads_workflow(textwrap.dedent(text), source="flow.yaml")
    return info.value.problems


def test_validate_checks_each_part_of_a_structured_condition_at_its_place():
    assert load_problems("""
        workflow:
          name: t
          steps:
            - {name: a, type: gemini, prompt: x}
            - name: b
              type: gemini
              prompt: x
              condition:
                and:
                  - "a.success"
                  - not: "revew.score > 3"
    """) == ["flow.yaml:12: steps[1].condition.and[1].not: condition: there is no step "
             "named 'revew'"]


def test_a_bare_template_name_that_is_a_step_says_to_use_steps():
    assert load_problems("""
        workflow:
          name: t
          steps:
            - {name: a, type: gemini, prompt: x}
            - {name: b, type: gemini, prompt: "{{ a }}"}
    """) == ["flow.yaml:6: steps[1].prompt[0].content: template: 'a' is a step, not a "
             "variable; write steps.a.text"]
