"""Hostile or broken input gets one clear line and exit 2: never a traceback, a hang, or
gigabytes of memory (YAML alias bombs, deep nesting, odd characters, huge templates, bad
command-line arguments)."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from rillet.cli import app

BOMB_LEVELS = "\n".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi"))
TOP_LEVEL_BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' \
                 + BOMB_LEVELS + "\n"
STEP_BOMB = f"""workflow:
  name: bomb
  global_vars:
    a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
  steps:
    - name: s
      type: set_variable
      variables: {{big: "{{{{ global_vars.f }}}}"}}
"""


def _validate(tmp_path, text, name="flow.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    out = CliRunner().invoke(app, ["validate", str(path)])
    return out, time.monotonic() - started


def _one_problem(out):
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output
    problems = [line for line in out.output.splitlines() if line.startswith("  ")]
    assert len(problems) == 1, out.output
    return problems[0]


@pytest.mark.parametrize("text", [TOP_LEVEL_BOMB, STEP_BOMB], ids=["top-level", "in-a-step"])
def test_an_alias_bomb_is_refused_at_once(tmp_path, text):
    out, took = _validate(tmp_path, text)
    assert "aliases" in _one_problem(out)
    assert took < 2


def test_a_big_file_with_a_few_aliases_is_not_taken_for_a_bomb(tmp_path):
    # 120,000 values written out, and an anchor used 20,000 times (as yaml.safe_dump
    # writes a dict shared by 10,000 steps): aliases add far less than the text holds.
    values = ", ".join(str(n) for n in range(120_000))
    shared = ", ".join("*s" for _ in range(20_000))
    out, _ = _validate(tmp_path, "workflow:\n  name: big\n  global_vars:\n"
                                 "    numbers: [%s]\n    one: &s {a: 1, b: 2}\n"
                                 "    again: [%s]\n"
                                 "  steps: [{name: a, type: echo, value: hi}]\n"
                                 % (values, shared))
    assert "aliases" not in out.output and "✓" in out.output, out.output


def test_ten_thousand_nested_brackets_are_one_line(tmp_path):
    out, _ = _validate(tmp_path, "workflow: " + "[" * 10_000 + "]" * 10_000 + "\n")
    assert "nests more than" in _one_problem(out)


@pytest.mark.parametrize("char", ["\f", "\0"], ids=["form-feed", "nul"])
def test_a_forbidden_character_names_its_line(tmp_path, char):
    out, _ = _validate(tmp_path, f"workflow:\n  name: a{char}\n  steps: []\n")
    problem = _one_problem(out)
    assert "flow.yaml:2:" in problem and "not allowed" in problem


def test_a_deeply_nested_condition_is_one_line(tmp_path):
    text = ("workflow:\n  name: c\n  steps:\n    - name: s\n      type: set_variable\n"
            "      variables: {x: 1}\n      condition: \"" + "not " * 3000 + "true\"\n")
    out, _ = _validate(tmp_path, text)
    assert "nested too deeply" in _one_problem(out)


@pytest.mark.parametrize("template", [
    "{{ 2**100000 }}", "{{ 10**(10**10) }}", "{{ 'a' * 10**9 }}", "{{ 'x' | center(10**9) }}",
    "{{ '%0999999999d' % 1 }}", "{{ '{:>999999999}'.format(1) }}",
    "{% for i in range(100000) %}{{ 'a' * 1000 }}{% endfor %}",
])
def test_a_template_too_large_to_compute_fails_in_one_line(tmp_path, template):
    from rillet.workflow.templates import TemplateError, check, render

    started = time.monotonic()
    with pytest.raises(TemplateError, match="template"):
        check(template)
        render(template, {})
    assert time.monotonic() - started < 2


def test_validate_does_not_hang_on_a_huge_power(tmp_path):
    text = ("workflow:\n  name: t\n  steps:\n    - name: s\n      type: set_variable\n"
            "      variables: {x: \"{{ 10**(10**10) }}\"}\n")
    out, took = _validate(tmp_path, text)
    assert out.exit_code == 0, out.output  # the power is refused when it renders
    assert took < 2


def test_a_run_rendering_a_huge_template_fails_the_step(tmp_path):
    text = ("workflow:\n  name: t\n  steps:\n    - name: s\n      type: set_variable\n"
            "      variables: {x: \"{{ 'a' * 10**9 }}\"}\n")
    path = tmp_path / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    out = CliRunner().invoke(app, ["run", str(path), "--mode", "mock", "--output-dir",
                                   str(tmp_path / "out"), "--workspace-dir", str(tmp_path / "ws")])
    assert out.exit_code == 1, out.output
    assert "Traceback" not in out.output and "repeating" in out.output


FLOW = "workflow:\n  name: p\n  steps:\n    - name: s\n      type: claude\n      prompt: hi\n"


@pytest.mark.parametrize("args, words", [
    (["--output-dir", "{file}"], "is a file"),
    (["--workspace-dir", "{file}/inside"], "--workspace-dir"),
    (["--script", "{missing}"], "--script"),
])
def test_bad_run_arguments_are_one_line_and_exit_2(tmp_path, args, words):
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    (tmp_path / "a-file").write_text("x")
    args = [a.format(file=tmp_path / "a-file", missing=tmp_path / "nope.yaml") for a in args]
    out = CliRunner().invoke(app, ["run", str(flow), "--mode", "mock", *args])
    assert out.exit_code == 2, out.output
    assert words in out.output and "Traceback" not in out.output
    assert len(out.output.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["serve", "sim"])
def test_a_port_out_of_range_is_one_line_and_exit_2(tmp_path, command):
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    args = [command, str(flow)] if command == "serve" else [command]
    out = CliRunner().invoke(app, [*args, "--port", "99999"])
    assert out.exit_code == 2, out.output
    assert "--port 99999" in out.output and len(out.output.strip().splitlines()) == 1
