"""pipeline_ex's performance keys, honoured: a for_loop's `batch_size` (batches one after
another), a data_transform's `lazy` (a generator chain, the same result) and a
set_variable's `streaming` (its values also streamed to a file in the run folder)."""

from __future__ import annotations

import json

import pytest

import rillet
from rillet.events import LoopBatch, StepCompleted, StepStarted
from rillet.steps import data_transform


def loop_flow(batch_size: int | None, parallel: bool, max_parallel: int = 5,
              items: int = 7) -> str:
    batching = f"batch_size: {batch_size}" if batch_size else ""
    return f"""
        workflow:
          name: t
          steps:
            - name: each
              type: for_loop
              data_source: {list(range(items))}
              {batching}
              parallel: {str(parallel).lower()}
              max_parallel: {max_parallel}
              steps:
                - name: work
                  type: claude
                  prompt: "item {{{{ loop.item }}}}"
                  mock: {{text: "done", timing: {{pattern: fast, first_token_delay_s: 0.03}}}}
    """


def spans(recorder) -> dict[int, tuple[int, int]]:
    """Iteration -> (position of its step's start, of its end) among the events."""
    found: dict[int, list[int]] = {}
    for position, event in enumerate(recorder.events):
        if type(event) in (StepStarted, StepCompleted) and event.step.endswith(".work"):
            index = int(event.step.split("[")[1].split("]")[0])
            found.setdefault(index, []).append(position)
    return {index: (min(p), max(p)) for index, p in found.items()}


@pytest.mark.parametrize("parallel", [False, True])
async def test_batches_start_one_after_another(write_workflow, run_opts, recorder, parallel):
    result = await rillet.run_async(write_workflow(loop_flow(3, parallel)), **run_opts)
    assert result.status == "completed", result.error
    batches = recorder.of(LoopBatch, "each")
    assert [(b.batch, b.batches, b.first, b.last) for b in batches] == [
        (1, 3, 0, 2), (2, 3, 3, 5), (3, 3, 6, 6)]
    where = spans(recorder)
    assert sorted(where) == list(range(7))
    for batch in batches:
        announced = recorder.events.index(batch)
        inside = range(batch.first, batch.last + 1)
        assert all(where[i][0] > announced for i in inside)  # it starts after its batch
        earlier = [i for i in where if i < batch.first]
        assert all(where[i][1] < announced for i in earlier)  # the batch before finished


def most_at_once(recorder) -> int:
    running = peak = 0
    for event in recorder.events:
        if event.step.endswith(".work") and type(event) in (StepStarted, StepCompleted):
            running += 1 if type(event) is StepStarted else -1
            peak = max(peak, running)
    return peak


@pytest.mark.parametrize(("batch_size", "max_parallel", "peak"), [(3, 5, 3), (4, 2, 2)])
async def test_parallel_batches_run_at_most_the_smaller_of_both_at_once(
        write_workflow, run_opts, recorder, batch_size, max_parallel, peak):
    result = await rillet.run_async(
        write_workflow(loop_flow(batch_size, True, max_parallel, items=8)), **run_opts)
    assert result.status == "completed", result.error
    assert most_at_once(recorder) == peak


async def test_without_batch_size_no_batch_is_announced(write_workflow, run_opts, recorder):
    flow = loop_flow(None, True)
    result = await rillet.run_async(write_workflow(flow), **run_opts)
    assert result.status == "completed", result.error
    assert recorder.of(LoopBatch) == [] and most_at_once(recorder) == 5


ITEMS = [{"id": i, "active": i % 3 != 0, "priority": i % 4, "name": f"n{i}"}
         for i in range(40)]
OPERATIONS = [
    {"operation": "filter", "field": "active", "condition": "active == true"},
    {"operation": "map", "field": "priority", "mapping": {"1": "high", "2": "medium",
                                                          "3": "low"}},
    {"operation": "join", "left_field": "id", "right_source": "extra", "join_key": "id"},
    {"operation": "select", "fields": ["id", "priority", "name", "note"]},
    {"operation": "sort", "field": "id", "order": "desc"},
    {"operation": "filter", "field": "id", "condition": "id > 10"},
]
FILTER_MAP = [{"operation": "filter", "field": "active", "condition": "active == true"},
              {"operation": "map", "field": "priority", "mapping": {"1": "high"}}]


def transform_flow(lazy: str, operations: list = OPERATIONS) -> str:
    extra = [{"id": i, "note": f"extra {i}"} for i in range(0, 40, 5)]
    return f"""
        workflow:
          name: t
          steps:
            - name: given
              type: set_variable
              variables: {{rows: {json.dumps(ITEMS)}, extra: {json.dumps(extra)}}}
            - name: shape
              type: data_transform
              input_source: rows
              {lazy}
              operations: {json.dumps(operations)}
    """


async def test_lazy_gives_the_same_result(write_workflow, run_opts):
    eager = await rillet.run_async(write_workflow(transform_flow(""), "a.yaml"), **run_opts)
    lazy = await rillet.run_async(write_workflow(transform_flow("lazy: {enabled: true}"),
                                                 "b.yaml"), **run_opts)
    assert eager.status == lazy.status == "completed", (eager.error, lazy.error)
    assert lazy["shape"].data == eager["shape"].data
    assert lazy["shape"].data[0] == {"id": 38, "priority": "medium", "name": "n38"}
    assert {"id": 35, "priority": "low", "name": "n35", "note": "extra 35"} \
        in lazy["shape"].data


async def test_lazy_passes_each_item_through_the_chain_before_the_next(
        write_workflow, run_opts, monkeypatch):
    """No list between filter and map: item 0 is mapped before item 1 is filtered."""
    calls: list[tuple[str, int]] = []
    keeper, changer = data_transform._keeper, data_transform._changer

    def spy(kind, make):
        def made(op, *rest):
            inner = make(op, *rest)
            return lambda item: (calls.append((kind, item["id"])), inner(item))[1]
        return made

    monkeypatch.setattr(data_transform, "_keeper", spy("filter", keeper))
    monkeypatch.setattr(data_transform, "_changer", spy("map", changer))
    flow = transform_flow("lazy: {enabled: true}", FILTER_MAP)
    result = await rillet.run_async(write_workflow(flow), **run_opts)
    assert result.status == "completed", result.error
    assert calls[:5] == [("filter", 0), ("filter", 1), ("map", 1), ("filter", 2), ("map", 2)]
    calls.clear()
    eager = await rillet.run_async(write_workflow(flow.replace("lazy: {enabled: true}", ""),
                                                  "eager.yaml"), **run_opts)
    assert eager.status == "completed"
    assert calls[:3] == [("filter", 0), ("filter", 1), ("filter", 2)]  # a list in between


async def test_a_lazy_operation_that_fails_is_named(write_workflow, run_opts):
    flow = transform_flow("lazy: {enabled: true}", [
        FILTER_MAP[1], {"operation": "filter", "field": "name", "condition": "name > 3"}])
    result = await rillet.run_async(write_workflow(flow), **run_opts)
    assert result.status == "failed"
    assert "operations[1] (filter)" in result.error


async def test_streaming_set_variable_writes_its_values_to_the_run_folder(
        write_workflow, run_opts):
    flow = write_workflow("""
        workflow:
          name: t
          steps:
            - name: generate_data
              type: set_variable
              variables: {large_dataset: [1, 2, 3], label: "x"}
              streaming: {enabled: true}
            - {name: plain, type: set_variable, variables: {y: "{{ large_dataset | length }}"}}
    """)
    result = await rillet.run_async(flow, **run_opts)
    assert result.status == "completed", result.error
    written = result.output_dir / result.run_id / "streams" / "generate_data.json"
    assert json.loads(written.read_text()) == {"large_dataset": [1, 2, 3], "label": "x"}
    recorded = json.loads(result.results_path.read_text())["steps"]
    assert recorded["generate_data"]["metrics"]["stream_file"] == str(written)
    assert "stream_file" not in recorded["plain"]["metrics"]
    assert result["plain"].variables == {"y": 3}  # the values stay for later steps
