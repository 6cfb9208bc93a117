"""pipeline_ex's template functions, `{{ a ? b : c }}` and `{{ previous_response:NAME }}`."""

from __future__ import annotations

import textwrap

import pytest

from rillet.errors import WorkflowError
from rillet.result import StepResult
from rillet.workflow.loader import loads_workflow
from rillet.workflow.template_syntax import to_jinja
from rillet.workflow.templates import TemplateError, check, render, render_value


@pytest.fixture
def ctx() -> dict:
    return {
        "steps": {"tally": StepResult("tally", text='{"total": 7, "rows": [{"id": 3}]}'),
                  "note": StepResult("note", text="Plain words.")},
        "state": {"iteration": 0, "first": "a.tex", "latest": "b.md",
                  "orders_by_tier": {"gold": [{"total": 120}]}},
        "global_vars": {}, "inputs": {"count": 42, "factor": "2", "ratio": "2.5"},
        "workflow": {"name": "t", "run_id": "r", "environment": None},
        "timestamp": "20260102-030405",
    }


@pytest.mark.parametrize(("template", "expected"), [
    ("{{multiply(inputs.count, inputs.factor)}}", 84),
    ("{{ multiply(inputs.ratio, 2) }}", 5.0),
    ("{{ add(inputs.count, 1) }}", 43),
    ("{{ subtract(inputs.count, inputs.factor) }}", 40),
    ("{{ divide(inputs.count, 4) }}", 10.5),
    ("{{ divide(4, 2) }}", 2.0),  # a float, as Elixir's / gave
    ("{{ max(3, inputs.count, '7') }}", 42),
    ("{{ min(3, inputs.count, '7') }}", 3),
    ("{{ round(2.5) }}", 3),  # halves away from zero, as Elixir's round/1
    ("{{ round(-2.5) }}", -3),
    ("{{ round('2.4') }}", 2),
    ("{{ floor(2.7) }}", 2),
    ("{{ ceil(2.1) }}", 3),
    ("{{ floor(-2.1) }}", -3),
])
def test_each_function_gives_pipeline_ex_s_value(ctx, template, expected):
    value = render_value(template, ctx)
    assert value == expected and type(value) is type(expected)


def test_a_function_inside_text_is_written_into_it(ctx):
    assert render("count: {{ multiply(inputs.count, 2) }}", ctx) == "count: 84"


@pytest.mark.parametrize(("template", "says"), [
    ("{{ multiply(inputs.count, 'many') }}", "multiply(): 'many' is not a number"),
    ("{{ add(true, 1) }}", "add(): True is not a number"),
    ("{{ divide(inputs.count, 0) }}", "division by zero"),
    ("{{ max() }}", "max() needs at least one value"),
    ("{{ multiply(10 ** 3000, 10 ** 3000) }}", "too large"),
])
def test_a_value_pipeline_ex_turned_into_0_stops_the_step(ctx, template, says):
    with pytest.raises(TemplateError) as info:
        render_value(template, ctx)
    assert says in str(info.value)


def test_a_big_number_is_an_argument_like_any_other(ctx):
    assert render_value("{{ add(20000000, 1) }}", ctx) == 20_000_001


def test_an_unknown_function_names_the_ones_there_are():
    with pytest.raises(TemplateError) as info:
        check("{{ power(2, 3) }}")
    assert "power() is not a function templates have" in str(info.value)
    assert "multiply, add, subtract, divide, max, min, round, floor, ceil" in str(info.value)


@pytest.mark.parametrize(("template", "expected"), [
    ("{{state.iteration == 0 ? state.first : state.latest}}", "a.tex"),
    ("{{ state.iteration > 0 ? state.first : state.latest }}", "b.md"),
    ("{{ state.iteration > 0 ? 'x' : state.iteration == 0 ? 'zero' : 'y' }}", "zero"),
    ("{{ state.iteration == 0 ? 'a?b' : 'c:d' }}", "a?b"),
    ("{{ state.iteration == 0 ? [1, 2][0:1] : {'k': 1} }}", [1]),
])
def test_a_ternary_is_jinja_s_if_else(ctx, template, expected):
    assert render_value(template, ctx) == expected


def test_a_ternary_in_text_and_whitespace_control(ctx):
    assert render("file: {{- state.iteration == 0 ? state.first : state.latest -}} .", ctx) \
        == "file:a.tex."


def test_text_without_the_forms_is_not_rewritten():
    text = "What? {{ inputs.count }} : {{ steps.note.text }}"
    assert to_jinja(text) == text


def test_a_question_mark_inside_a_string_is_not_a_ternary(ctx):
    assert render("{{ 'why?' }}", ctx) == "why?"


def test_previous_response_is_a_step_s_answer_or_a_data_transform_output(ctx):
    assert render_value("{{previous_response:tally}}", ctx) == {"total": 7,
                                                               "rows": [{"id": 3}]}
    assert render_value("{{ previous_response:tally.rows.0.id }}", ctx) == 3
    assert render("{{previous_response:note}}", ctx) == "Plain words."
    assert render("{{previous_response:orders_by_tier.gold}}", ctx) == '[{"total": 120}]'


def test_previous_response_of_nothing_says_what_it_looked_for(ctx):
    with pytest.raises(TemplateError) as info:
        render("{{ previous_response:missing }}", ctx)
    assert "no step 'missing' has finished and no earlier data_transform has " \
           "output_field 'missing'" in str(info.value)
    with pytest.raises(TemplateError) as info:
        render("{{ previous_response:tally.nope }}", ctx)
    assert "no 'nope' in the value of 'tally'" in str(info.value)


def test_previous_response_inside_a_string_is_text(ctx):
    assert render("{{ 'previous_response:tally' }}", ctx) == "previous_response:tally"


def test_check_reports_previous_response_names():
    assert ("previous_response", "tally") in check("{{ previous_response:tally.rows }}")


def _load(steps: str) -> None:
    loads_workflow("workflow:\n  name: t\n  steps:\n" + textwrap.indent(
        textwrap.dedent(steps), "    "), source="flow.yaml")


def test_validation_takes_an_earlier_step_or_output_field_for_previous_response():
    _load("""
        - {name: raw, type: echo, value: [{n: 1}, {n: 2}]}
        - {name: shape, type: data_transform, input_source: "previous_response:raw",
           operations: [{operation: sort, field: n, order: desc}], output_field: sorted}
        - {name: use, type: echo, value: "{{previous_response:sorted}} {{previous_response:raw}}"}
        - {name: use2, type: data_transform, input_source: "previous_response:sorted.0",
           operations: [{operation: select, fields: [n]}]}
    """)


def test_validation_refuses_previous_response_of_a_later_or_unknown_name():
    with pytest.raises(WorkflowError) as info:
        _load("""
            - {name: use, type: echo, value: "{{ previous_response:later }}"}
            - {name: later, type: echo, value: 1}
            - {name: use2, type: echo, value: "{{ previous_response:nowhere }}"}
        """)
    assert info.value.problems == [
        "flow.yaml:5: steps[0].value: template: previous_response: step 'later' runs after "
        "this one; only earlier steps can be used",
        "flow.yaml:7: steps[2].value: template: previous_response: there is no step named "
        "'nowhere' (nor an output_field of an earlier data_transform)",
    ]
