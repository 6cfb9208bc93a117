"""Prompt parts: static text, files, earlier responses and extracts from their JSON."""

from __future__ import annotations

import textwrap

import pytest

from rillet.engine.context import RunContext
from rillet.result import StepResult
from rillet.steps.prompt import PromptError, build_prompt
from rillet.workflow.loader import loads_workflow

FLOW = """
workflow:
  name: prompts
  global_vars: {who: team}
  steps:
    - name: plan
      type: claude
      prompt: "Plan"
    - name: use
      type: claude
      prompt:
        - type: static
          content: "For the {{ global_vars.who }}:"
        - type: previous_response
          step: plan
          extract: %s
"""


def context(tmp_path, text: str, status: str = "completed") -> RunContext:
    workflow = loads_workflow(textwrap.dedent(FLOW % "tasks.1.title"))
    ctx = RunContext(workflow=workflow, run_id="r", base_dir=tmp_path, output_dir=tmp_path,
                     run_dir=tmp_path, workspace_dir=tmp_path, global_vars={"who": "team"})
    ctx.results["plan"] = StepResult(step="plan", text=text, status=status)
    return ctx


def use_step(ctx: RunContext, extract: str):
    workflow = loads_workflow(textwrap.dedent(FLOW % extract))
    return workflow.steps[1]


PLAN = '```json\n{"tasks": [{"title": "a"}, {"title": "b", "tags": ["x"]}]}\n```'


@pytest.mark.parametrize("extract, expected", [
    ("tasks.1.title", "b"),
    ("tasks.1.tags", '["x"]'),
    ("tasks.0", '{"title": "a"}'),
])
def test_extract_follows_a_dot_path_into_the_json_of_a_fenced_answer(tmp_path, extract,
                                                                      expected):
    ctx = context(tmp_path, PLAN)
    assert build_prompt(use_step(ctx, extract), ctx) == f"For the team:\n\n{expected}"


@pytest.mark.parametrize("extract, problem", [
    ("tasks.5.title", "no '5'"),
    ("tasks.1.owner", "no 'owner'"),
    ("missing", "no 'missing'"),
])
def test_an_extract_that_finds_nothing_names_the_missing_key(tmp_path, extract, problem):
    ctx = context(tmp_path, PLAN)
    with pytest.raises(PromptError, match=problem) as info:
        build_prompt(use_step(ctx, extract), ctx)
    assert "step 'plan'" in str(info.value)


def test_extract_from_an_answer_that_is_not_json_says_so(tmp_path):
    ctx = context(tmp_path, "just prose")
    with pytest.raises(PromptError, match="is text, not JSON; only extract: content"):
        build_prompt(use_step(ctx, "tasks"), ctx)


@pytest.mark.parametrize("field", ["content", "text"])
def test_extract_content_or_text_of_a_text_answer_is_the_text(tmp_path, field):
    # pipeline_ex's answers were maps holding the text under "text" (or "content", mocks)
    ctx = context(tmp_path, "just prose")
    assert build_prompt(use_step(ctx, field), ctx) == "For the team:\n\njust prose"


def test_extract_content_of_a_json_answer_with_that_field_takes_the_field(tmp_path):
    ctx = context(tmp_path, '{"content": "inner", "other": 1}')
    assert build_prompt(use_step(ctx, "content"), ctx) == "For the team:\n\ninner"


def test_extract_content_of_a_bare_function_call_is_its_json(tmp_path):
    ctx = context(tmp_path, "")
    ctx.results["plan"] = StepResult(step="plan", text="", status="completed",
                                     output={"score": 3})
    assert build_prompt(use_step(ctx, "content"), ctx) == 'For the team:\n\n{"score": 3}'


def test_a_failed_earlier_step_cannot_feed_a_prompt(tmp_path):
    ctx = context(tmp_path, "partial", status="failed")
    with pytest.raises(PromptError, match="step 'plan', which failed"):
        build_prompt(use_step(ctx, "tasks"), ctx)


def test_an_unreadable_prompt_file_names_the_path(tmp_path):
    workflow = loads_workflow(textwrap.dedent("""
    workflow:
      name: files
      global_vars: {name: gone}
      steps:
        - name: read
          type: claude
          prompt:
            - type: file
              path: "notes/{{ global_vars.name }}.md"
    """))
    ctx = RunContext(workflow=workflow, run_id="r", base_dir=tmp_path, output_dir=tmp_path,
                     run_dir=tmp_path, workspace_dir=tmp_path, global_vars={"name": "gone"})
    with pytest.raises(PromptError, match=r"notes/gone\.md' does not exist"):
        build_prompt(workflow.steps[0], ctx)


def test_extract_reads_on_into_a_branchs_json_answer_kept_as_text(tmp_path):
    # A parallel step's text maps each branch to its answer; a branch asked for JSON
    # answered with JSON text, and the path goes on inside it.
    branches = '{"docs": "prose", "testing": "{\\"coverage\\": {\\"lines\\": 87.5}}"}'
    ctx = context(tmp_path, branches)
    assert build_prompt(use_step(ctx, "testing.coverage.lines"), ctx) == \
        "For the team:\n\n87.5"
    with pytest.raises(PromptError, match="no 'coverage'"):
        build_prompt(use_step(ctx, "docs.coverage"), ctx)  # prose has no fields
