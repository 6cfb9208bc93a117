"""Keys of pipeline_ex's examples/performance_demo.yaml, data_transform_example.yaml and
research_paper_improvement_native_loop.yaml: file_ops stream_copy / stream_process,
set_variable's variable/value form, workflow variables:, previous_response: of a
data_transform's output_field; and the keys refused with a reason."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import rillet
import rillet.steps.file_ops as file_ops
from rillet.errors import WorkflowError
from rillet.workflow.loader import loads_workflow


def flow(steps: str, extra: str = "") -> str:
    return ("workflow:\n  name: t\n" + extra + "  steps:\n"
            + textwrap.indent(textwrap.dedent(steps).strip(), "    ") + "\n")


@pytest.fixture
def run(tmp_path: Path):
    async def run_flow(body: str, **options):
        path = tmp_path / "flow.yaml"
        path.write_text(body, encoding="utf-8")
        return await rillet.run_async(path, mode="mock", output_dir=tmp_path / "out",
                                      workspace_dir=tmp_path / "ws", **options)
    return run_flow


def problems_of(body: str) -> list[str]:
    with pytest.raises(WorkflowError) as info:
        loads_workflow(body, source="flow.yaml")
    return info.value.problems


async def test_stream_copy_copies_in_chunks(run, tmp_path, monkeypatch):
    monkeypatch.setattr(file_ops, "STREAM_CHUNK_BYTES", 4)
    chunks: list[int] = []
    real = file_ops.shutil.copyfileobj
    monkeypatch.setattr(file_ops.shutil, "copyfileobj",
                        lambda src, dst, size: (chunks.append(size), real(src, dst, size)))
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "big.txt").write_bytes(b"0123456789" * 3)
    result = await run(flow("- {name: c, type: file_ops, operation: stream_copy, "
                            "source: big.txt, destination: out/copy.txt}"))
    assert result.status == "completed", result.error
    assert (tmp_path / "ws" / "out" / "copy.txt").read_bytes() == b"0123456789" * 3
    assert chunks == [4]
    assert result["c"].data == {"operation": "stream_copy", "source": "big.txt",
                                "destination": "out/copy.txt", "method": "streaming",
                                "bytes": 30, "status": "completed"}


@pytest.mark.parametrize(("processor", "extra", "expected"), [
    ("uppercase", "", "ONE TWO\n  THREE \n"),
    ("lowercase", "", "one two\n  three \n"),
    ("trim", "", "One Two\nthree\n"),
    ("identity", "", "One Two\n  three \n"),
    ("replace", ", pattern: 'o', replacement: '0'", "One Tw0\n  three \n"),
])
async def test_stream_process_rewrites_each_line_in_place(run, tmp_path, processor, extra,
                                                          expected):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "notes.txt").write_text("One Two\n  three \n")
    result = await run(flow(f"- {{name: p, type: file_ops, operation: stream_process, "
                            f"source: notes.txt, processor: {processor}{extra}}}"))
    assert result.status == "completed", result.error
    assert (tmp_path / "ws" / "notes.txt").read_text() == expected
    assert result["p"].data["lines"] == 2
    assert [p.name for p in (tmp_path / "ws").iterdir()] == ["notes.txt"]  # no temp file left


async def test_stream_operations_on_a_missing_file_fail_naming_it(run, tmp_path):
    (tmp_path / "ws").mkdir()
    result = await run(flow("- {name: c, type: file_ops, operation: stream_copy, "
                            "source: gone.txt, destination: x.txt}"))
    assert result.status == "failed"
    assert "stream_copy: 'gone.txt' is not a file in the workspace" in result.error


@pytest.mark.parametrize(("step", "says"), [
    ("{name: p, type: file_ops, operation: stream_process, source: a.txt}",
     "operation stream_process needs source and processor (missing: processor)"),
    ("{name: p, type: file_ops, operation: stream_process, source: a.txt, processor: shout}",
     "processor: Input should be"),
    ("{name: p, type: file_ops, operation: stream_process, source: a.txt, processor: replace}",
     "processor replace needs pattern"),
    ("{name: p, type: file_ops, operation: stream_process, source: a.txt, processor: trim, "
     "replacement: x}", "operation stream_process does not take replacement"),
])
def test_stream_process_keys_are_checked_when_the_file_loads(step, says):
    assert any(says in problem for problem in problems_of(flow("- " + step)))


async def test_variable_and_value_set_one_variable(run):
    result = await run(flow("""
        - {name: seed, type: set_variable, variable: items, value: [1, 2]}
        - {name: show, type: echo, value: "{{ state.items | length }}"}
    """))
    assert result.status == "completed", result.error
    assert result["show"].text == "2"


@pytest.mark.parametrize(("step", "says"), [
    ("{name: s, type: set_variable, variable: x}", "variable: needs value: beside it (or write variables: {NAME: VALUE})"),
    ("{name: s, type: set_variable, variable: x, value: 1, variables: {y: 2}}",
     "give either variables: {NAME: VALUE} or variable: with value:, not both"),
])
def test_the_variable_form_needs_its_value_and_not_both_forms(step, says):
    assert problems_of(flow("- " + step)) == [f"flow.yaml:4: steps[0].variable: {says}"]


@pytest.mark.parametrize(("key", "step", "reason"), [
    ("streaming", "{name: s, type: set_variable, variables: {x: 1}, streaming: {enabled: true}}",
     "computes its values at once"),
    ("lazy", "{name: d, type: data_transform, input_source: x, lazy: {enabled: true}, "
             "operations: [{operation: sort, field: a}]}", "chunks of 100 items"),
])
def test_keys_that_would_change_nothing_are_refused_with_the_reason(key, step, reason):
    found = [p for p in problems_of(flow("- " + step)) if f".{key}:" in p]
    assert len(found) == 1 and reason in found[0]
    assert "docs/migration-from-pipeline-ex.md" in found[0]


async def test_workflow_variables_are_the_initial_state(run):
    result = await run(flow("""
        - name: loop
          type: while_loop
          condition: "{{state.n < state.limit}}"
          max_iterations: 5
          steps:
            - {name: pick, type: set_variable, variables: {f: "{{state.n == 0 ? state.first : 'later'}}"}}
            - {name: bump, type: set_variable, variables: {n: "{{state.n + 1}}"}}
            - {name: say, type: echo, value: "{{ state.f }}"}
        - {name: done, type: echo, value: "{{ state.n }}"}
    """, extra="  variables: {n: 0, limit: 3, first: start.tex}\n"))
    assert result.status == "completed", result.error
    assert result["done"].text == "3"
    assert [child.text for child in result["loop"].children[0].values()][-1] == "start.tex"


def test_without_variables_the_state_it_reads_is_never_set():
    problems = problems_of(flow('- {name: say, type: echo, value: "{{ state.n }}"}'))
    assert problems == ["flow.yaml:4: steps[0].value: template: state.n is never set: no "
                        "earlier set_variable step sets it"]
    loads_workflow(flow('- {name: say, type: echo, value: "{{ state.n }}"}',
                        extra="  variables: {n: 1}\n"))


async def test_previous_response_names_a_data_transform_output_field(run):
    result = await run(flow(f"""
        - name: data
          type: echo
          value: {json.dumps([{"tier": "gold", "total": 10}, {"tier": "gold", "total": 30},
                              {"tier": "bronze", "total": 5}])}
        - name: group
          type: data_transform
          input_source: "previous_response:data"
          operations: [{{operation: group_by, field: tier}}]
          output_field: orders_by_tier
        - name: gold_avg
          type: data_transform
          input_source: "previous_response:orders_by_tier.gold"
          operations: [{{operation: aggregate, field: total, function: average}}]
        - name: report
          type: echo
          value: "gold: {{{{previous_response:gold_avg}}}}; tiers: {{{{previous_response:orders_by_tier}}}}"
    """))
    assert result.status == "completed", result.error
    assert result["gold_avg"].text == "20.0"
    assert result["report"].text.startswith('gold: 20.0; tiers: {"gold": [')


async def test_a_loop_over_a_set_variable_s_result_as_performance_demo_writes_it(run):
    result = await run(flow("""
        - {name: generate_data, type: set_variable, variable: large_dataset, value: [a, b]}
        - name: each
          type: for_loop
          iterator: item
          data_source: "previous_response:generate_data:large_dataset"
          steps:
            - {name: validate_item, type: set_variable, variable: validated,
               value: "{{loop.item}}_validated"}
            - {name: show, type: echo, value: "{{ state.validated }}"}
    """))
    assert result.status == "completed", result.error
    assert [iteration["show"].text for iteration in result["each"].children] == \
        ["a_validated", "b_validated"]
