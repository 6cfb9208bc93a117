"""Conditions: every operator, precedence, literals, paths, and the errors."""

from __future__ import annotations

import pytest

from rillet.result import StepResult
from rillet.workflow import conditions
from rillet.workflow.conditions import ConditionError, check, evaluate


@pytest.fixture
def ctx() -> dict:
    return {
        "steps": {
            "check": StepResult(step="check", text="LGTM, ship it", output_tokens=60),
            "plan": StepResult(step="plan", text='{"ok": true, "items": [1, 2, 3], '
                                                 '"owner": {"name": "ana"}}'),
            "broken": StepResult(step="broken", text="half", status="failed"),
        },
        "state": {"n": 3, "ratio": 0.5, "tags": ["a", "b"], "empty": "", "nothing": None},
        "global_vars": {"topic": "rivers"},
        "inputs": {"level": "high"},
        "workflow": {"name": "flow", "run_id": "r1"},
    }


@pytest.mark.parametrize(("expr", "expected"), [
    ("state.n == 3", True), ("state.n == 4", False),
    ("state.n != 3", False), ("state.n != 4", True),
    ("state.n < 4", True), ("state.n < 3", False),
    ("state.n <= 3", True), ("state.n <= 2", False),
    ("state.n > 2", True), ("state.n > 3", False),
    ("state.n >= 3", True), ("state.n >= 3.5", False),
    ("state.ratio == 0.5", True), ("state.n > -1", True),
    ("'apple' < 'banana'", True),
    ("steps.check.text contains 'LGTM'", True), ("steps.check.text contains 'lgtm'", False),
    ("state.tags contains 'a'", True), ("state.tags contains 'z'", False),
    ("'b' in state.tags", True), ("'z' in state.tags", False),
    ("'z' not in state.tags", True), ("steps.check.text not contains 'LGTM'", False),
    ("'ship' in steps.check.text", True),
    ("inputs.level == \"high\"", True), ("global_vars.topic == 'rivers'", True),
    ("workflow.name == 'flow'", True),
    ("state.nothing == null", True), ("state.n == none", False),
    ("true", True), ("false", False), ("TRUE", True),
])
def test_each_operator_and_literal(ctx, expr, expected):
    assert evaluate(expr, ctx) is expected


@pytest.mark.parametrize(("expr", "expected"), [
    ("true or false and false", True),  # and binds tighter than or
    ("(true or false) and false", False),
    ("not false and false", False),  # not binds tighter than and
    ("not (false and false)", True),
    ("not not true", True),
    ("state.n > 1 and state.n < 5 or false", True),
    ("not (steps.check.text contains 'LGTM')", False),
])
def test_precedence_and_parentheses(ctx, expr, expected):
    assert evaluate(expr, ctx) is expected


def test_a_bare_path_is_a_truth_test(ctx):
    assert evaluate("state.n", ctx) is True
    assert evaluate("state.empty", ctx) is False
    assert evaluate("state.nothing", ctx) is False
    assert evaluate("steps.check", ctx) is True  # a step result: did it succeed
    assert evaluate("steps.broken", ctx) is False


def test_step_fields_json_keys_and_list_indexes(ctx):
    assert evaluate("steps.check.output_tokens > 50", ctx) is True
    assert evaluate("steps.plan.ok", ctx) is True
    assert evaluate("steps.plan.items.2 == 3", ctx) is True
    assert evaluate("steps.plan.owner.name == 'ana'", ctx) is True
    assert evaluate("steps.plan.data.items contains 2", ctx) is True
    assert evaluate("steps.broken.status == 'failed'", ctx) is True


@pytest.mark.parametrize(("expr", "says"), [
    ("steps.skipped.text contains 'x'", "step 'skipped' did not run"),
    ("state.missing", "state has no 'missing' (it has: n, ratio, tags, empty, nothing)"),
    ("steps.check.nofield", "step 'check' has no field 'nofield'"),
    ("steps.plan.items.7", "has 3 items, no item 7"),
    ("state.n > 'a'", "cannot compare a number 3 > text 'a'"),
    ("state.tags.x", "is a list, which has no 'x'"),
    ("steps.check.text contains 3", "text can only contain text"),
    ("state.n contains 3", "cannot look inside a number 3"),
])
def test_evaluation_errors_are_clear(ctx, expr, says):
    with pytest.raises(ConditionError) as info:
        evaluate(expr, ctx)
    assert says in str(info.value)
    assert repr(expr) in str(info.value)


@pytest.mark.parametrize(("expr", "says"), [
    ("", "cannot be empty"),
    ("state.n = 3", "unexpected '='; compare with == (column 9)"),
    ("(true", "missing ')'"),
    ("true and", "expected a value at the end"),
    ("1 < state.n < 5", "comparisons cannot be chained"),
    ("stat.n > 1", "unknown name 'stat'; did you mean state?"),
    ("state.n > 1 state.n", "unexpected 'state.n'; join tests with and / or"),
    ("'unclosed", "unexpected '''"),
    ("and true", "expected a value before 'and'"),
    ("state.n == )", "expected a value, found ')'"),
])
def test_syntax_errors_name_the_problem_and_column(expr, says):
    with pytest.raises(ConditionError) as info:
        check(expr)
    assert says in str(info.value)


def test_check_reports_the_paths_a_condition_reads():
    parsed = check("steps.a.text contains 'x' or state.n > 1 and not global_vars.flag")
    assert parsed.paths == (("steps", "a", "text"), ("state", "n"), ("global_vars", "flag"))


def test_parsing_happens_once_per_expression(ctx):
    conditions._compile.cache_clear()
    for _ in range(5):
        evaluate("state.n >= 1 and steps.check.text contains 'ship'", ctx)
    info = conditions._compile.cache_info()
    assert (info.misses, info.hits) == (1, 4)


def test_string_escapes(ctx):
    ctx["state"]["quote"] = "it's"
    assert evaluate(r"state.quote == 'it\'s'", ctx) is True
    assert evaluate('state.quote == "it\'s"', ctx) is True


def test_conditions_never_call_python(ctx):
    with pytest.raises(ConditionError):
        check("__import__('os').system('true')")
