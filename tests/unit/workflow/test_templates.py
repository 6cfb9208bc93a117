"""Templates: native types, strict undefined names, the sandbox, caching and the fast path."""

from __future__ import annotations

import pytest

from rillet.result import StepResult
from rillet.workflow import templates
from rillet.workflow.templates import TemplateError, render, render_value


@pytest.fixture
def ctx() -> dict:
    return {
        "steps": {
            "draft": StepResult(step="draft", text="Rivers carve deep valleys.", output_tokens=7),
            "decide": StepResult(step="decide",
                                 text='```json\n{"needs_rewrite": true, "items": ["a"]}\n```'),
        },
        "global_vars": {"topic": "rivers", "limit": 3},
        "inputs": {"audience": "children"},
        "state": {"count": 2},
        "workflow": {"name": "flow", "run_id": "r1"},
    }


def test_placeholders_from_every_part_of_the_context(ctx):
    text = ("{{ global_vars.topic }} for {{ inputs.audience }}: {{ steps.draft.text }} "
            "({{ state.count }}, {{ workflow.name }})")
    assert render(text, ctx) == ("rivers for children: Rivers carve deep valleys. "
                                 "(2, flow)")


def test_a_single_expression_keeps_its_native_type(ctx):
    assert render_value("{{ steps.draft.text.split() | length }}", ctx) == 4
    assert render_value("{{ steps.draft.output_tokens > 5 }}", ctx) is True
    assert render_value("{{ global_vars.limit * 2 }}", ctx) == 6
    assert render_value("{{ [state.count, 1] }}", ctx) == [2, 1]


def test_mixed_text_is_a_string(ctx):
    assert render_value("n={{ state.count }}", ctx) == "n=2"
    assert render_value("{{ state.count }}{{ state.count }}", ctx) == "22"


def test_render_value_walks_dicts_and_lists_and_leaves_other_values(ctx):
    value = {"a": ["{{ state.count }}", "x"], "b": {"c": "{{ global_vars.topic }}"}, "d": 4.5}
    assert render_value(value, ctx) == {"a": [2, "x"], "b": {"c": "rivers"}, "d": 4.5}


def test_a_step_field_falls_back_to_a_key_of_its_json_output(ctx):
    assert render_value("{{ steps.decide.needs_rewrite }}", ctx) is True
    assert render("{{ steps.decide.items[0] }}", ctx) == "a"


def test_a_step_named_like_a_dict_method_is_the_step(ctx):
    ctx["steps"]["items"] = StepResult(step="items", text="the items step")
    assert render("{{ steps.items.text }}", ctx) == "the items step"


@pytest.mark.parametrize(("template", "says"), [
    ("{{ steps.missing.text }}", "no step 'missing' has finished"),
    ("{{ state.nope }}", "'nope' is not set (set: count)"),
    ("{{ subject }}", "'subject' is not set: a bare name is a variable of state, global_vars or inputs"),
    ("{{ steps.draft.nofield }}", "step 'draft' has no field 'nofield'"),
    ("Before {{ inputs.who }} after", "'who' is not set"),
])
def test_undefined_names_are_errors_naming_the_name_and_template(ctx, template, says):
    with pytest.raises(TemplateError) as info:
        render_value(template, ctx)
    assert says in str(info.value)
    assert repr(" ".join(template.split())) in str(info.value)


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ steps.draft.__class__ }}",
    "{{ state.update({'count': 99}) }}",
    "{{ steps.draft.text.__len__() }}",
])
def test_the_sandbox_blocks_escapes_and_mutation(ctx, template):
    with pytest.raises(TemplateError, match="not allowed in a template"):
        render_value(template, ctx)
    assert ctx["state"] == {"count": 2}


def test_syntax_errors_name_the_template():
    with pytest.raises(TemplateError, match=r"template '\{\{ x': syntax error"):
        render("{{ x", {})


def test_errors_raised_inside_an_expression_become_template_errors(ctx):
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render_value("{{ state.count / 0 }}", ctx)


def test_plain_text_never_reaches_jinja(ctx, monkeypatch):
    def boom(text):
        raise AssertionError("compiled a plain string")

    monkeypatch.setattr(templates, "_template", boom)
    monkeypatch.setattr(templates, "_single_expression", boom)
    text = "No templates here {just braces} and a } too"
    assert render(text, ctx) is text
    assert render_value(text, ctx) is text


def test_a_template_is_compiled_once(ctx):
    text = "cached {{ state.count }} " + "x" * 10
    templates._template.cache_clear()
    for _ in range(3):
        assert render(text, ctx).startswith("cached 2")
    info = templates._template.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_trailing_newlines_of_a_prompt_are_kept(ctx):
    assert render("Topic: {{ global_vars.topic }}\n", ctx) == "Topic: rivers\n"


def test_check_lists_the_names_a_template_reads():
    found = templates.check("{{ steps.draft.text }} {{ state['x'] }} {{ inputs.y | default(1) }}"
                            "{% for i in range(2) %}{{ i }}{% endfor %}{% set z = 1 %}{{ z }}"
                            "{{ foo }}")
    assert sorted(found, key=str) == sorted(
        [("steps", "draft"), ("state", "x"), ("inputs", "y"), ("foo", None)], key=str)


def test_check_rejects_bad_syntax_and_passes_plain_text():
    assert templates.check("plain") == []
    with pytest.raises(TemplateError, match="syntax error"):
        templates.check("{% if %}")
