"""The run's event log (<run dir>/events.jsonl): every event of the run, with the time it
was written, consecutive deltas of a step joined into one line; kept on cancel."""

from __future__ import annotations

import json
import time
from contextlib import aclosing
from pathlib import Path

import rillet
from rillet.engine.event_log import SNAPSHOT_S, RunEventLog
from rillet.events import PartialOutput, StepStarted, TextDelta, ThinkingDelta, Usage
from rillet.workflow.loader import loads_workflow

FLOW = """
workflow:
  name: logged
  steps:
    - name: draft
      type: claude
      prompt: "Write"
      mock:
        text: "One two three four five six seven."
        timing: {pattern: slow, first_token_delay_s: 0, tokens_per_second: 200}
    - name: note
      type: set_variable
      variables: {seen: "yes"}
"""


def read_log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_a_run_logs_every_event_in_order_with_rising_times(tmp_path):
    events: list = []

    class Keep:
        def on_event(self, event):
            events.append(event)

    result = rillet.run(loads_workflow(FLOW), mode="mock", output_dir=tmp_path,
                        listeners=[Keep()])
    logged = read_log(tmp_path / result.run_id)
    assert logged[0]["type"] == "PipelineStarted" and logged[-1]["type"] == "PipelineCompleted"
    kept = [e for e in events if type(e) is not TextDelta]
    assert [line["type"] for line in logged if line["type"] != "TextDelta"] == \
        [type(e).__name__ for e in kept]
    text = "".join(line["text"] for line in logged if line["type"] == "TextDelta")
    assert text == result["draft"].text
    times = [line["t"] for line in logged]
    assert times == sorted(times) and times[-1] > 0.02  # a slow stream: written over time
    assert sum(line["type"] == "TextDelta" for line in logged) > 1  # not one line at the end


async def test_a_cancelled_run_keeps_the_events_up_to_the_cancel(tmp_path):
    flow = loads_workflow(FLOW.replace("tokens_per_second: 200", "tokens_per_second: 20"))
    seen = 0
    async with aclosing(rillet.stream(flow, mode="mock", output_dir=tmp_path)) as events:
        async for event in events:
            if type(event) is TextDelta:
                seen += 1
                if seen == 3:
                    break
    [run_dir] = tmp_path.iterdir()
    logged = read_log(run_dir)
    assert logged[-1]["type"] == "PipelineFailed" and logged[-1]["cancelled"] is True
    assert "".join(line["text"] for line in logged if line["type"] == "TextDelta") == \
        json.loads((run_dir / "results.json").read_text())["steps"]["draft"]["text"]


def test_deltas_of_interleaved_steps_are_joined_per_step_and_kind(tmp_path):
    log = RunEventLog(tmp_path)
    for event in [StepStarted("p.a", "claude"), TextDelta("p.a", "a1 "), TextDelta("p.a", "a2 "),
                  TextDelta("p.b", "b1 "), ThinkingDelta("p.b", "hm"), TextDelta("p.b", "b2"),
                  Usage("p.a", 1, 2), TextDelta("p.a", "a3")]:
        log.on_event(event)
    log.close()
    assert [(x["type"], x["step"], x.get("text")) for x in read_log(tmp_path)] == [
        ("StepStarted", "p.a", None), ("TextDelta", "p.a", "a1 a2 "), ("TextDelta", "p.b", "b1 "),
        ("ThinkingDelta", "p.b", "hm"), ("TextDelta", "p.b", "b2"), ("Usage", "p.a", None),
        ("TextDelta", "p.a", "a3")]


def test_a_burst_keeps_its_newest_object_and_the_text_around_it_joins(tmp_path):
    log = RunEventLog(tmp_path)
    log._stop.set()
    log._writer.join()  # one drain, by hand: the whole burst lands in one batch
    grows: dict = {}
    for event in [TextDelta("s", '{"a": '), PartialOutput("s", {"a": ""}), TextDelta("s", '"b'),
                  PartialOutput("s", grows), TextDelta("s", '"}'), Usage("s", 1, 3)]:
        log.on_event(event)
    grows["a"] = "b"
    log.close()
    assert [(x["type"], x.get("text"), x.get("value")) for x in read_log(tmp_path)] == [
        ("TextDelta", '{"a": "b', None), ("PartialOutput", None, {"a": "b"}),
        ("TextDelta", '"}', None), ("Usage", None, None)]


def test_objects_are_logged_at_most_every_snapshot_interval_per_step(tmp_path):
    log = RunEventLog(tmp_path)
    log._stop.set()
    log._writer.join()
    for number in range(3):  # three batches within one interval: only the first logs
        log.on_event(PartialOutput("s", {"n": number}))
        log.on_event(PartialOutput("t", {"n": number}))
        log._drain()
    time.sleep(SNAPSHOT_S)
    log.on_event(PartialOutput("s", {"n": 3}))
    log.close()
    assert [(x["step"], x["value"]) for x in read_log(tmp_path)] == [
        ("s", {"n": 0}), ("t", {"n": 0}), ("s", {"n": 3})]


def test_events_are_written_while_the_producer_never_yields(tmp_path):
    log = RunEventLog(tmp_path)  # the writer thread drains the log, loop or no loop
    log.on_event(TextDelta("s", "early"))
    deadline = time.monotonic() + 10
    while not (tmp_path / "events.jsonl").read_text() and time.monotonic() < deadline:
        time.sleep(0.005)  # a busy producer: the writer still gets its turn
    assert read_log(tmp_path) == [{"t": read_log(tmp_path)[0]["t"], "type": "TextDelta",
                                   "step": "s", "text": "early"}]
    log.close()
