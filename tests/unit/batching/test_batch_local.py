"""rillet.batch in this process: one run per item, bad rows fail alone, resume skips what
is done, the budget stops the batch, and 429s lower the concurrency."""

from __future__ import annotations

import json
from pathlib import Path

import rillet
from rillet.batching import BudgetStopped, ConcurrencyChanged, ItemEvent, ItemResult
from rillet.events import TextDelta
from rillet.sim.script import Script

from batch_flows import jsonl, script


async def collect(*args, **kwargs) -> list:
    return [out async for out in rillet.batch(*args, **kwargs)]


def journal_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "batch.jsonl").read_text().splitlines()]


async def test_each_row_is_one_run_and_batch_jsonl_has_one_line_per_item(
        tmp_path, workflow_file, fast_script):
    data = jsonl(tmp_path / "d.jsonl", ['{"ticket": "export"}', '{"ticket": "invoice"}',
                                        '{"ticket": "region"}'])
    results = await collect(workflow_file, data, output_dir=tmp_path / "out", mode="mock",
                            script=fast_script, concurrency=2)
    assert sorted(r.item for r in results) == ["line-1", "line-2", "line-3"]
    lines = journal_lines(tmp_path / "out")
    assert sorted(line["item"] for line in lines) == ["line-1", "line-2", "line-3"]
    first = next(line for line in lines if line["item"] == "line-1")
    assert first["status"] == "completed"
    assert first["inputs"] == {"ticket": "export"}
    assert first["steps"]["classify"]["text"] == "a bug, and urgent."
    assert first["steps"]["reply"]["text"] == "Thanks, we are on it and will write back."
    assert first["output_tokens"] == sum(s["output_tokens"] for s in first["steps"].values())
    assert first["cost_usd"] > 0
    results_json = json.loads(Path(first["results_path"]).read_text())
    assert results_json["steps"]["classify"]["text"] == "a bug, and urgent."


async def test_a_bad_row_fails_alone_with_its_file_and_line_and_the_batch_goes_on(
        tmp_path, workflow_file, fast_script):
    data = jsonl(tmp_path / "d.jsonl", ['{"ticket": "a"}', '{oops', '{"ticket": "c"}'])
    results = {r.item: r for r in await collect(workflow_file, data, output_dir=tmp_path / "o",
                                                mode="mock", script=fast_script)}
    assert results["line-1"].success and results["line-3"].success
    assert results["line-2"].status == "failed"
    assert results["line-2"].record["error"].startswith(f"{data}:2: not valid JSON")


async def test_csv_and_folder_inputs_run_one_item_each(tmp_path, workflow_file, fast_script):
    csv_file = tmp_path / "d.csv"
    csv_file.write_text("ticket\nexport\ninvoice\n", encoding="utf-8")
    folder = tmp_path / "tickets"
    folder.mkdir()
    (folder / "t1.txt").write_text("export", encoding="utf-8")
    from_csv = await collect(workflow_file, csv_file, output_dir=tmp_path / "c", mode="mock",
                             script=fast_script)
    from_dir = await collect(workflow_file, folder, output_dir=tmp_path / "f", mode="mock",
                             script=fast_script)
    assert sorted((r.item, r.record["inputs"]["ticket"]) for r in from_csv) == [
        ("line-2", "export"), ("line-3", "invoice")]
    [item] = from_dir
    assert (item.item, item.record["inputs"]["content"]) == ("t1.txt", "export")
    # A file's inputs are file, name and content: {{ inputs.ticket }} is not among them,
    # so the item's run is refused before its first step.
    assert item.status == "failed"
    assert "cannot run on its own: it reads inputs.ticket" in item.record["error"]
    assert item.record["failed_step"] is None


async def test_resume_skips_items_already_done_and_runs_the_rest_once(
        tmp_path, workflow_file, fast_script):
    data = jsonl(tmp_path / "d.jsonl", [f'{{"ticket": "t{n}"}}' for n in range(4)])
    out = tmp_path / "out"
    out.mkdir()
    done = {"item": "line-2", "status": "completed", "cost_usd": 0.5}
    (out / "batch.jsonl").write_text(json.dumps(done) + "\n" + '{"item": "line-3", "sta')
    results = await collect(workflow_file, data, output_dir=out, mode="mock",
                            script=fast_script, resume=True)
    assert sorted(r.item for r in results) == ["line-1", "line-3", "line-4"]
    assert sorted(line["item"] for line in journal_lines(out)) == [
        "line-1", "line-2", "line-3", "line-4"]


async def test_without_resume_an_existing_journal_is_refused(tmp_path, workflow_file,
                                                             fast_script):
    data = jsonl(tmp_path / "d.jsonl", ['{"ticket": "a"}'])
    await collect(workflow_file, data, output_dir=tmp_path / "o", mode="mock",
                  script=fast_script)
    try:
        await collect(workflow_file, data, output_dir=tmp_path / "o", mode="mock")
    except rillet.RilletError as exc:
        assert "pass --resume" in str(exc)
    else:
        raise AssertionError("a second batch into the same folder was not refused")


async def test_the_budget_stops_new_items_and_cancels_running_ones_keeping_their_text(
        tmp_path, workflow_file):
    slow = Script.model_validate(script(first_token_delay_s=0.0, tokens_per_second=40,
                                        jitter=0))
    data = jsonl(tmp_path / "d.jsonl", [f'{{"ticket": "t{n}"}}' for n in range(12)])
    outs = await collect(workflow_file, data, output_dir=tmp_path / "o", mode="mock",
                         script=slow, concurrency=3, max_cost_usd=0.0005, events=True)
    stops = [o for o in outs if type(o) is BudgetStopped]
    assert len(stops) == 1 and stops[0].spent_usd >= 0.0005
    results = [o for o in outs if type(o) is ItemResult]
    cancelled = [r for r in results if r.status == "cancelled"]
    assert cancelled, "the running items were not cancelled"
    assert len(results) < 12  # items not started before the stop never start
    streamed: dict[str, str] = {}
    for o in outs:
        if type(o) is ItemEvent and type(o.event) is TextDelta:
            key = f"{o.item}/{o.event.step}"
            streamed[key] = streamed.get(key, "") + o.event.text
    kept = [(r.item, name, s["text"]) for r in cancelled
            for name, s in r.record["steps"].items()]
    assert all(streamed.get(f"{item}/{name}", "") == text for item, name, text in kept)
    assert any(text for _, _, text in kept), "no cancelled item kept the text it streamed"
    assert {line["status"] for line in journal_lines(tmp_path / "o")} <= {
        "completed", "cancelled"}


async def test_429s_halve_the_concurrency_and_every_item_still_finishes_once(
        tmp_path, workflow_file):
    storm = Script.model_validate({
        "timing": {"pattern": "fast"},
        "rules": [{"match": "Classify", "text": "a bug.",
                   "fault": {"kind": "http_error", "status": 429, "times": 24}},
                  {"match": "Reply", "text": "On it."}]})
    data = jsonl(tmp_path / "d.jsonl", [f'{{"ticket": "t{n}"}}' for n in range(10)])
    outs = await collect(workflow_file, data, output_dir=tmp_path / "o", mode="mock",
                         script=storm, concurrency=8, events=True, max_attempts=20)
    lowered = [o for o in outs if type(o) is ConcurrencyChanged and "lowered" in o.reason]
    assert lowered and lowered[0].limit == 4
    lines = journal_lines(tmp_path / "o")
    assert sorted(line["item"] for line in lines) == sorted(f"line-{n}" for n in range(1, 11))
    assert {line["status"] for line in lines} == {"completed"}
    assert max(line["attempts"] for line in lines) > 1


async def test_on_the_simulator_the_real_sdks_429s_reach_the_windows_and_no_item_is_lost(
        tmp_path, workflow_file):
    # Each refused request is retried twice by the anthropic SDK itself: 12 refusals make
    # the first four items fail through, and the batch queues them again.
    storm = Script.model_validate({
        "timing": {"pattern": "fast"},
        "rules": [{"match": "Classify", "text": "a bug.",
                   "fault": {"kind": "http_error", "status": 429, "times": 12}},
                  {"match": "Reply", "text": "On it."}]})
    data = jsonl(tmp_path / "d.jsonl", [f'{{"ticket": "t{n}"}}' for n in range(6)])
    outs = await collect(workflow_file, data, output_dir=tmp_path / "o", mode="sim",
                         script=storm, concurrency=4, events=True)
    lowered = [o for o in outs if type(o) is ConcurrencyChanged]
    assert lowered and lowered[0].provider.startswith("anthropic_api/sim")
    assert "rate_limit (HTTP 429)" in lowered[0].reason
    lines = journal_lines(tmp_path / "o")
    assert sorted(line["item"] for line in lines) == [f"line-{n}" for n in range(1, 7)]
    assert {line["status"] for line in lines} == {"completed"}


async def test_a_resumed_batch_whose_budget_is_spent_starts_nothing(tmp_path, workflow_file,
                                                                    fast_script):
    data = jsonl(tmp_path / "d.jsonl", ['{"ticket": "a"}', '{"ticket": "b"}'])
    out = tmp_path / "o"
    out.mkdir()
    (out / "batch.jsonl").write_text(json.dumps({"item": "line-1", "status": "completed",
                                                 "cost_usd": 2.0}) + "\n")
    outs = await collect(workflow_file, data, output_dir=out, mode="mock", script=fast_script,
                         resume=True, max_cost_usd=1.0, events=True)
    assert [type(o).__name__ for o in outs] == ["BudgetStopped"]
    assert len(journal_lines(out)) == 1


async def test_an_item_that_ran_an_unpriced_model_records_its_cost_as_null(tmp_path):
    flow = tmp_path / "unpriced.yaml"
    flow.write_text("""
workflow:
  name: unpriced-batch
  steps:
    - name: answer
      type: claude
      model: made-up-model-9
      prompt: "{{ inputs.ticket }}"
      mock: {text: "an answer", timing: {pattern: fast}}
""", encoding="utf-8")
    data = jsonl(tmp_path / "d.jsonl", ['{"ticket": "export"}'])
    await collect(flow, data, output_dir=tmp_path / "out", mode="mock")

    (line,) = journal_lines(tmp_path / "out")
    assert line["status"] == "completed"
    assert line["steps"]["answer"]["cost_usd"] is None
    assert line["cost_usd"] is None  # unknown, never a made-up $0
