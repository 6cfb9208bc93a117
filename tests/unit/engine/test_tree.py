"""Container steps on the mock provider: paths on events and results, concurrency,
failures, cancellation, resume, and the cap on Claude CLI processes."""

from __future__ import annotations

import asyncio
import json

import pytest

import rillet
from rillet.errors import WorkflowError
from rillet.events import StepCompleted, StepFailed, StepStarted, TextDelta
from rillet.providers import registry
from rillet.sim.script import Script
from rillet.workflow.loader import loads_workflow

FAST = "timing: {pattern: fast}"


def slow(words: int, rate: int = 400) -> str:
    text = " ".join(f"w{i}" for i in range(words))
    return (f'{{text: "{text}", timing: {{pattern: slow, first_token_delay_s: 0, '
            f'tokens_per_second: {rate}}}}}')


def most_at_once(recorder, kinds=("claude",)) -> int:
    """The largest number of steps of `kinds` started and not yet finished at one time."""
    running, peak = set(), 0
    for event in recorder.events:
        if type(event) is StepStarted and event.step_type in kinds:
            running.add(event.step)
            peak = max(peak, len(running))
        elif type(event) in (StepCompleted, StepFailed):
            running.discard(event.step)
    return peak


def streamed(recorder, label: str) -> str:
    return "".join(e.text for e in recorder.of(TextDelta, label))


PARALLEL = f"""
workflow:
  name: fan
  steps:
    - name: fanout
      type: parallel
      steps:
        - name: branch_a
          type: claude
          prompt: "a"
          mock: {slow(40)}
        - name: branch_b
          type: gemini
          prompt: "b"
          mock: {slow(40)}
    - name: join
      type: claude
      prompt:
        - "A={{{{ steps.fanout.branch_a.text }}}}"
        - type: previous_response
          step: fanout.branch_b
      mock: {{text: "joined", {FAST}}}
"""


async def test_parallel_branches_stream_at_once_with_path_labels(write_workflow, run_opts,
                                                                 recorder, monkeypatch):
    prompts = {}
    original = registry.ProviderPool.open_stream

    def spy(self, request, kind):
        prompts[request.step] = request.prompt
        return original(self, request, kind)

    monkeypatch.setattr(registry.ProviderPool, "open_stream", spy)
    result = await rillet.run_async(write_workflow(PARALLEL), **run_opts)

    assert result.success, result.error
    fanout = result["fanout"]
    assert prompts["join"] == (f"A={fanout.children['branch_a'].text}\n\n"
                               f"{fanout.children['branch_b'].text}")
    assert list(fanout.children) == ["branch_a", "branch_b"]
    assert fanout.children["branch_a"].step == "fanout.branch_a"
    assert json.loads(fanout.text) == {name: r.text for name, r in fanout.children.items()}
    assert streamed(recorder, "fanout.branch_a") == fanout.children["branch_a"].text
    # Both branches were streaming before either finished.
    assert most_at_once(recorder, ("claude", "gemini")) == 2
    starts = [(e.step, e.step_type) for e in recorder.of(StepStarted)]
    assert starts[0] == ("fanout", "parallel")
    assert recorder.of(StepCompleted, "fanout")[0].text == fanout.text
    document = json.loads(result.results_path.read_text())
    assert document["steps"]["fanout"]["children"]["branch_b"]["text"] == \
        fanout.children["branch_b"].text
    lines = [json.loads(x) for x in (result.results_path.parent / "steps.jsonl").open()]
    assert [x["step"] for x in lines][-2:] == ["fanout", "join"]
    assert "children" not in lines[-2]


def failing(go_on: bool, broken: str) -> str:
    return FAILING.replace("GO_ON", str(go_on).lower()).replace("BROKEN", broken)


BREAKS = ("{text: \"" + " ".join(f"b{i}" for i in range(60)) + "\", timing: {pattern: slow, "
          "first_token_delay_s: 0, tokens_per_second: 400}, "
          "fault: {kind: drop, after_deltas: 20}}")
FAILING = f"""
workflow:
  name: failing
  steps:
    - name: fanout
      type: parallel
      continue_on_error: GO_ON
      steps:
        - name: long
          type: claude
          prompt: "long"
          mock: {slow(400, 200)}
        - name: broken
          type: claude
          prompt: "broken"
          mock: BROKEN
"""


async def test_failing_branch_cancels_siblings_and_keeps_their_text(write_workflow, run_opts,
                                                                     recorder):
    result = await rillet.run_async(write_workflow(failing(False, BREAKS)), **run_opts)

    assert result.status == "failed" and result.failed_step == "fanout"
    assert "fanout.broken" in result.error
    children = result["fanout"].children
    assert children["long"].status == "cancelled"
    assert children["long"].text == streamed(recorder, "fanout.long") != ""
    assert len(children["long"].text.split()) < 400
    assert children["broken"].status == "failed"
    assert recorder.of(StepFailed, "fanout.long")[0].cancelled is True
    assert result["fanout"].status == "failed"


async def test_continue_on_error_lets_the_other_branches_finish(write_workflow, run_opts):
    result = await rillet.run_async(write_workflow(failing(True, BREAKS)), **run_opts)

    assert result.success
    children = result["fanout"].children
    assert children["long"].status == "completed" and len(children["long"].text.split()) == 400
    assert children["broken"].status == "failed"
    assert any("fanout.broken" in w for w in result.warnings)


async def test_cancelling_mid_branch_keeps_every_partial_text(write_workflow, run_opts,
                                                              recorder):
    flow = write_workflow(failing(False, slow(400)))
    task = asyncio.ensure_future(rillet.run_async(flow, **run_opts))
    while len(recorder.of(TextDelta, "fanout.broken")) < 5:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    document = json.loads(next(run_opts["output_dir"].glob("*/results.json")).read_text())
    assert document["status"] == "cancelled"
    fanout = document["steps"]["fanout"]
    assert fanout["status"] == "cancelled"
    for name in ("long", "broken"):
        assert fanout["children"][name]["status"] == "cancelled"
        assert fanout["children"][name]["text"] == streamed(recorder, f"fanout.{name}") != ""


LOOP = f"""
workflow:
  name: looping
  steps:
    - name: plan
      type: claude
      prompt: "plan"
      mock: {{text: '{{"topics": [{{"name": "rivers", "items": ["x", "y"]}}, {{"name": "hills", "items": ["z"]}}]}}', {FAST}}}
    - name: review
      type: for_loop
      iterator: topic
      data_source: "previous_response:plan:topics"
      steps:
        - name: draft
          type: claude
          prompt: "Draft {{{{ loop.topic.name }}}} {{{{ loop.index }}}}/{{{{ loop.length }}}}"
          mock: {{{FAST}}}
        - name: points
          type: for_loop
          iterator: point
          data_source: "loop.topic.items"
          steps:
            - name: note
              type: set_variable
              variables:
                said: "{{{{ loop.parent.topic.name }}}}/{{{{ loop.topic.name }}}}:{{{{ loop.point }}}}@{{{{ loop.parent.index }}}}.{{{{ loop.index }}}}"
        - name: summarise
          type: claude
          prompt:
            - type: previous_response
              step: draft
          mock: {{{FAST}}}
"""


async def test_for_loop_keeps_one_mapping_per_iteration_with_loop_variables(
        write_workflow, run_opts, recorder):
    result = await rillet.run_async(write_workflow(LOOP), **run_opts)

    assert result.success, result.error
    iterations = result["review"].children
    assert [sorted(it) for it in iterations] == [["draft", "points", "summarise"]] * 2
    assert iterations[1]["draft"].step == "review[1].draft"
    prompts = [e for e in recorder.of(StepStarted) if e.step.endswith(".draft")]
    assert [p.step for p in prompts] == ["review[0].draft", "review[1].draft"]
    said = [it["note"].variables["said"] for it in iterations[0]["points"].children]
    assert said == ["rivers/rivers:x@0.0", "rivers/rivers:y@0.1"]
    assert iterations[1]["points"].children[0]["note"].step == "review[1].points[0].note"
    # summarise saw its own iteration's draft (a sibling by name)
    assert iterations[1]["summarise"].text != ""
    assert json.loads(result["review"].text)[0]["points"][1]["note"] == \
        iterations[0]["points"].children[1]["note"].text
    assert result["review[1].points[0].note"] is iterations[1]["points"].children[0]["note"]
    with pytest.raises(KeyError, match="missing: 5"):
        result["review[5].draft"]


PARALLEL_LOOP = f"""
workflow:
  name: ploop
  steps:
    - name: each
      type: for_loop
      data_source: [1, 2, 3, 4, 5, 6]
      parallel: true
      max_parallel: 2
      steps:
        - name: work
          type: gemini
          prompt: "item {{{{ loop.item }}}}"
          mock: {slow(20)}
"""


async def test_parallel_for_loop_runs_at_most_max_parallel_iterations(write_workflow,
                                                                       run_opts, recorder):
    result = await rillet.run_async(write_workflow(PARALLEL_LOOP), **run_opts)

    assert result.success
    assert len(result["each"].children) == 6
    assert most_at_once(recorder, ("gemini",)) == 2


BREAKING = f"""
workflow:
  name: breaking
  steps:
    - name: each
      type: for_loop
      data_source: "{{{{ [1, 2, 3, 4, 5] }}}}"
      break_condition: "loop.item >= 2"
      continue_condition: "loop.item == 1"
      steps:
        - name: work
          type: claude
          prompt: "item {{{{ loop.item }}}}"
          mock: {{{FAST}}}
"""


async def test_for_loop_continue_skips_and_break_stops(write_workflow, run_opts, recorder):
    result = await rillet.run_async(write_workflow(BREAKING), **run_opts)

    assert result.success
    assert result["each"].children[0] == {}
    assert list(result["each"].children[1]) == ["work"]
    assert len(result["each"].children) == 2
    assert [e.step for e in recorder.of(StepStarted) if e.step_type == "claude"] == \
        ["each[1].work"]


RESUMABLE = """
workflow:
  name: resumable
  checkpoint_enabled: true
  checkpoint_dir: {checkpoints}
  steps:
    - name: each
      type: for_loop
      data_source: ["a", "b", "c"]
      steps:
        - name: work
          type: claude
          prompt: "item {{{{ loop.item }}}}"
"""


async def test_resume_mid_loop_skips_finished_iterations(write_workflow, run_opts, tmp_path,
                                                         recorder):
    flow = write_workflow(RESUMABLE.format(checkpoints=tmp_path / "cp"))
    breaks_c = Script.model_validate({"timing": {"pattern": "fast"}, "rules": [
        {"match": "item c", "fault": {"kind": "drop", "after_deltas": 1}}]})
    first = await rillet.run_async(flow, script=breaks_c, **run_opts)
    assert first.status == "failed" and "each[2].work" in first.error

    recorder.events.clear()
    second = await rillet.run_async(flow, resume=True, script=Script.model_validate(
        {"timing": {"pattern": "fast"}}), **run_opts)
    assert second.success
    assert [e.step for e in recorder.of(StepStarted)] == ["each", "each[2].work"]
    assert [it["work"].text for it in second["each"].children[:2]] == \
        [it["work"].text for it in first["each"].children[:2]]


WHILE = f"""
workflow:
  name: whiling
  steps:
    - name: start
      type: set_variable
      variables: {{limit: 3}}
    - name: again
      type: while_loop
      condition: "loop.iteration < state.limit"
      max_iterations: 10
      steps:
        - name: tick
          type: claude
          prompt: "tick {{{{ loop.iteration }}}}"
          mock: {{{FAST}}}
    - name: capped
      type: while_loop
      condition: "true"
      max_iterations: 2
      steps:
        - name: tock
          type: set_variable
          variables: {{n: "{{{{ loop.count }}}}"}}
"""


async def test_while_loop_keeps_each_iteration_and_never_runs_unbounded(write_workflow,
                                                                        run_opts):
    result = await rillet.run_async(write_workflow(WHILE), **run_opts)

    assert result.success
    assert [it["tick"].step for it in result["again"].children] == \
        ["again[0].tick", "again[1].tick", "again[2].tick"]
    assert [it["tock"].variables["n"] for it in result["capped"].children] == [0, 1]
    assert any("max_iterations 2" in w for w in result.warnings)


SWITCH = f"""
workflow:
  name: switching
  steps:
    - name: detect
      type: claude
      prompt: "detect"
      mock: {{text: '{{"language": "{{lang}}"}}', {FAST}}}
    - name: handle
      type: switch
      expression: "detect.language"
      cases:
        python:
          - name: lint
            type: claude
            prompt: "pylint"
            mock: {{text: "linted", {FAST}}}
          - name: report
            type: claude
            prompt: "report {{{{ steps.lint.text }}}}"
            mock: {{{FAST}}}
      default:
        - name: generic
          type: claude
          prompt: "generic"
          mock: {{text: "generic", {FAST}}}
"""


@pytest.mark.parametrize(("lang", "ran"), [("python", ["lint", "report"]),
                                            ("go", ["generic"])])
async def test_switch_runs_the_matching_case_or_the_default(write_workflow, run_opts, lang,
                                                            ran):
    result = await rillet.run_async(write_workflow(SWITCH.replace("{lang}", lang)),
                                    **run_opts)

    assert result.success, result.error
    assert list(result["handle"].children) == ran
    assert result["handle"].children[ran[0]].step == f"handle.{ran[0]}"


INNER = f"""
workflow:
  name: inner
  inputs: {{topic: default}}
  steps:
    - name: fan
      type: parallel
      steps:
        - name: loop
          type: for_loop
          data_source: "{{{{ inputs.topics }}}}"
          steps:
            - name: x
              type: claude
              prompt: "{{{{ inputs.topic }}}} {{{{ loop.item }}}}"
              mock: {{{FAST}}}
        - name: other
          type: claude
          prompt: "other"
          mock: {{text: '{{"score": 7}}', {FAST}}}
"""

OUTER = """
workflow:
  name: outer
  steps:
    - name: sub
      type: pipeline
      pipeline_file: inner.yaml
      inputs:
        topic: "rivers"
        topics: ["a", "b"]
      outputs:
        - fan
        - {path: fan.other, as: other_text}
"""


async def test_a_loop_inside_a_parallel_inside_a_nested_pipeline(write_workflow, run_opts,
                                                                 recorder):
    write_workflow(INNER, "inner.yaml")
    result = await rillet.run_async(write_workflow(OUTER), **run_opts)

    assert result.success, result.error
    labels = [e.step for e in recorder.of(StepStarted)]
    assert labels[:2] == ["sub", "sub.fan"]
    assert {"sub.fan.loop", "sub.fan.loop[0].x", "sub.fan.loop[1].x", "sub.fan.other"} \
        <= set(labels)
    x1 = result["sub"].children["fan"].children["loop"].children[1]["x"]
    assert x1.step == "sub.fan.loop[1].x" and streamed(recorder, x1.step) == x1.text
    outputs = json.loads(result["sub"].text)
    assert outputs["other_text"] == '{"score": 7}'
    assert outputs["fan"]["loop"][0]["x"] == \
        result["sub"].children["fan"].children["loop"].children[0]["x"].text


async def test_a_pipeline_that_includes_itself_is_refused(write_workflow, run_opts):
    write_workflow("""
    workflow:
      name: selfish
      steps:
        - name: again
          type: pipeline
          pipeline_file: flow.yaml
    """)
    result = await rillet.run_async(run_opts["output_dir"].parent / "flow.yaml", **run_opts)

    assert result.status == "failed"
    assert "cycle" in result.error and "again.again" in result.error


CLAUDES = """
workflow:
  name: many
  steps:
    - name: fanout
      type: parallel
      steps:
{branches}
"""


async def test_claude_cli_processes_stay_within_the_run_wide_cap(write_workflow, run_opts,
                                                                 recorder):
    branches = "\n".join(f"""        - name: b{i}
          type: for_loop
          data_source: [1, 2]
          parallel: true
          steps:
            - name: ask
              type: claude
              prompt: "q{i}"
              mock: {slow(15)}""" for i in range(4))
    result = await rillet.run_async(write_workflow(CLAUDES.format(branches=branches)),
                                    max_claude_processes=3, **run_opts)

    assert result.success
    assert most_at_once(recorder) == 3


@pytest.mark.parametrize(("body", "message"), [
    ("""
    - name: fan
      type: parallel
      steps:
        - {name: a, type: claude, prompt: "x"}
        - {name: a, type: claude, prompt: "y"}
    """, "steps[0].steps[1].name: duplicate step name 'a'"),
    ("""
    - name: fan
      type: parallel
      steps:
        - {name: a, type: claude, prompt: "x"}
        - {name: b, type: claude, prompt: "{{ steps.a.text }}"}
    """, "step 'a' runs after this one"),
    ("""
    - {name: a, type: claude, prompt: "{{ loop.item }}"}
    """, "loop.* exists only inside"),
    ("""
    - name: sub
      type: pipeline
      pipeline:
        name: inner
        steps:
          - {name: a, type: claude, promt: "x"}
    """, "steps[0].pipeline: steps[0].promt: unknown option; did you mean prompt?"),
    ("""
    - name: par
      type: parallel_claude
      parallel_tasks:
        - {id: a, prompt: "x", claude_options: {max_trns: 3}}
    """, "parallel_tasks[0].claude_options.max_trns: Extra inputs are not permitted"),
    ("""
    - name: each
      type: for_loop
      data_source: "previous_response:plann:topics"
      steps:
        - {name: a, type: claude, prompt: "x"}
    - {name: plan, type: claude, prompt: "x"}
    """, "data_source: there is no step named 'plann'; did you mean plan?"),
    ("""
    - name: pick
      type: switch
      expression: "detect.language"
      cases: {python: [{name: a, type: claude, prompt: "x"}]}
    - {name: detect, type: claude, prompt: "x"}
    """, "expression: step 'detect' runs after this one"),
])
def test_the_loader_checks_children_in_their_own_scope(body, message):
    import textwrap

    text = "workflow:\n  name: t\n  steps:" + textwrap.indent(textwrap.dedent(body), "  ")
    with pytest.raises(WorkflowError) as caught:
        loads_workflow(text, source="flow.yaml")
    assert message in str(caught.value)


def test_a_loop_body_sees_its_earlier_siblings():
    loads_workflow("""
workflow:
  name: t
  steps:
    - name: each
      type: for_loop
      data_source: [1]
      steps:
        - {name: a, type: claude, prompt: "x"}
        - {name: b, type: claude, prompt: "{{ steps.a.text }} {{ loop.index }}"}
""")


BUDGETED = f"""
workflow:
  name: budgeted
  max_cost_usd: BUDGET
  steps:
    - name: fanout
      type: parallel
      steps:
        - name: a
          type: claude
          model: claude-sonnet-4-5
          prompt: "a"
          mock: {slow(60)}
        - name: b
          type: claude
          model: claude-sonnet-4-5
          prompt: "b"
          mock: {slow(60)}
"""


async def test_the_budget_covers_the_branches_of_a_parallel(write_workflow, run_opts):
    free = await rillet.run_async(write_workflow(BUDGETED.replace("BUDGET", "100")),
                                  **run_opts)
    one_branch = free["fanout"].children["a"].cost_usd
    assert free.success and one_branch > 0

    budget = f"{one_branch * 1.5:.10f}"
    capped = await rillet.run_async(write_workflow(BUDGETED.replace("BUDGET", budget)),
                                    **run_opts)
    assert capped.status == "failed"
    assert "max_cost_usd" in capped.error and "fanout." in capped.error
    # Either branch alone fits; the one whose cost takes the run over the budget fails.
    statuses = sorted(r.status for r in capped["fanout"].children.values())
    assert statuses == ["completed", "failed"]


RESUMABLE_FAN = """
workflow:
  name: resumable-fan
  checkpoint_enabled: true
  checkpoint_dir: {checkpoints}
  steps:
    - name: fanout
      type: parallel
      steps:
        - {{name: quick, type: claude, prompt: "quick one"}}
        - {{name: flaky, type: claude, prompt: "flaky one"}}
"""


async def test_resume_skips_the_branches_that_finished(write_workflow, run_opts, tmp_path,
                                                       recorder):
    flow = write_workflow(RESUMABLE_FAN.format(checkpoints=tmp_path / "cp"))
    slow_drop = {"match": "flaky", "timing": {"pattern": "slow", "first_token_delay_s": 0.05,
                                              "tokens_per_second": 400},
                 "fault": {"kind": "drop", "after_deltas": 20}}
    first = await rillet.run_async(flow, script=Script.model_validate(
        {"timing": {"pattern": "fast"}, "rules": [slow_drop]}), **run_opts)
    assert first.status == "failed" and "fanout.flaky" in first.error
    assert first["fanout.quick"].status == "completed"

    recorder.events.clear()
    second = await rillet.run_async(flow, resume=True, script=Script.model_validate(
        {"timing": {"pattern": "fast"}}), **run_opts)
    assert second.success
    assert [e.step for e in recorder.of(StepStarted)] == ["fanout", "fanout.flaky"]
    assert second["fanout.quick"].text == first["fanout.quick"].text
