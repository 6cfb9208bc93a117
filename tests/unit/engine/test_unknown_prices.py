"""Unknown prices are unknown: a model rillet has no price for costs `null` (`$?`), with one
warning; a budget it could not keep refuses to start unless the workflow gives prices; a
Claude Agent step with no model is priced from its first Usage, so a budget stops it early."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import rillet
from rillet.cli import app
from rillet.errors import RunRefused

UNPRICED = """
workflow:
  name: unpriced
  {extra}
  steps:
    - name: first
      type: claude
      model: made-up-model-9
      prompt: "one"
      mock: {{text: "alpha beta gamma", timing: {{pattern: fast}}}}
    - name: second
      type: claude
      model: made-up-model-9
      prompt: "two"
      mock: {{text: "delta epsilon", timing: {{pattern: fast}}}}
"""


async def test_an_unpriced_model_costs_null_with_one_warning(write_workflow, run_opts):
    result = await rillet.run_async(write_workflow(UNPRICED.format(extra="")), **run_opts)

    assert result.success, result.error
    assert result["first"].cost_usd is None and result["second"].cost_usd is None
    assert result.cost_usd is None
    document = json.loads(result.results_path.read_text())
    assert document["cost_usd"] is None
    assert document["steps"]["first"]["cost_usd"] is None
    price_warnings = [w for w in result.warnings if "no price for model 'made-up-model-9'" in w]
    assert len(price_warnings) == 1


def test_the_console_shows_an_unknown_cost_as_a_question_mark(write_workflow, tmp_path):
    flow = write_workflow(UNPRICED.format(extra=""))
    out = CliRunner().invoke(app, ["run", str(flow), "--mode", "mock", "--output-dir",
                                   str(tmp_path / "out"), "--workspace-dir", str(tmp_path / "ws")])
    assert out.exit_code == 0, out.output
    assert "$?" in out.output
    assert "$0.0000" not in out.output


async def test_a_budget_with_an_unpriced_model_refuses_to_start(write_workflow, run_opts,
                                                                 tmp_path):
    flow = write_workflow(UNPRICED.format(extra="max_cost_usd: 1.0"))
    with pytest.raises(RunRefused, match="no price for 'made-up-model-9'.*pricing:"):
        await rillet.run_async(flow, **run_opts)
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_it_in_one_line_with_exit_2(write_workflow, tmp_path):
    flow = write_workflow(UNPRICED.format(extra="max_cost_usd: 1.0"))
    out = CliRunner().invoke(app, ["run", str(flow), "--mode", "mock", "-q",
                                   "--output-dir", str(tmp_path / "out")])
    assert out.exit_code == 2, out.output
    assert "max_cost_usd" in out.output and "Traceback" not in out.output
    assert len(out.output.strip().splitlines()) == 1


async def test_prices_given_by_the_workflow_are_used_and_enforced(write_workflow, run_opts):
    extra = "max_cost_usd: 1.0\n  pricing:\n    made-up-model-9: {input: 1000000, output: 1000000}"
    result = await rillet.run_async(write_workflow(UNPRICED.format(extra=extra)), **run_opts)

    # A dollar a token: the first step alone goes over the budget.
    assert result.status == "failed" and result.failed_step == "first"
    assert "max_cost_usd" in result.error


async def test_prices_given_by_the_workflow_price_the_steps(write_workflow, run_opts):
    extra = "pricing:\n    made-up-model-9: {input: 1.0, output: 2.0}"
    result = await rillet.run_async(write_workflow(UNPRICED.format(extra=extra)), **run_opts)

    step = result["first"]
    assert step.cost_usd == pytest.approx((step.input_tokens * 1.0 + step.output_tokens * 2.0)
                                          / 1_000_000)
    assert result.cost_usd == pytest.approx(result["first"].cost_usd + result["second"].cost_usd)
    assert not [w for w in result.warnings if "no price" in w]


NO_MODEL = """
workflow:
  name: no-model
  max_cost_usd: 0.0000001
  steps:
    - name: long
      type: claude
      prompt: "Write a long answer"
      mock:
        text: "{text}"
        timing: {{pattern: fast}}
"""


async def test_a_claude_step_with_no_model_is_priced_from_its_first_usage(write_workflow,
                                                                        run_opts):
    words = " ".join(f"w{i}" for i in range(300))
    result = await rillet.run_async(write_workflow(NO_MODEL.format(text=words)), **run_opts)

    assert result.status == "failed" and "max_cost_usd" in result.error
    assert len(result["long"].text) < len(words)  # stopped while streaming, not at the end


async def test_an_unpriced_branch_makes_its_container_and_the_run_cost_null(write_workflow,
                                                                            run_opts):
    flow = write_workflow("""
workflow:
  name: unpriced-fan
  steps:
    - name: fanout
      type: parallel
      steps:
        - {name: priced, type: claude, model: claude-sonnet-4-5, prompt: "one",
           mock: {text: "alpha", timing: {pattern: fast}}}
        - {name: unpriced, type: claude, model: made-up-model-9, prompt: "two",
           mock: {text: "beta", timing: {pattern: fast}}}
""")
    result = await rillet.run_async(flow, **run_opts)

    assert result.success, result.error
    assert result["fanout.priced"].cost_usd > 0
    assert result["fanout.unpriced"].cost_usd is None
    assert result["fanout"].cost_usd is None
    assert result.cost_usd is None
    assert any("step 'fanout.unpriced'" in w and "made-up-model-9" in w for w in result.warnings)


async def test_the_run_s_events_carry_the_unknown_cost_as_null(write_workflow, run_opts,
                                                               recorder):
    from rillet.events import PipelineCompleted, StepCompleted

    result = await rillet.run_async(write_workflow(UNPRICED.format(extra="")), **run_opts)

    assert result.success, result.error
    assert [e.cost_usd for e in recorder.of(StepCompleted)] == [None, None]
    (done,) = recorder.of(PipelineCompleted)
    assert done.cost_usd is None
