"""`rillet batch` as a user runs it: piped output, --json, --stream, and a batch killed
with SIGKILL that --resume finishes without running any item twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml
from batch_flows import jsonl, script
from typer.testing import CliRunner

from rillet.cli import app

runner = CliRunner()
RILLET = [sys.executable, "-m", "rillet.cli"]


def write_script(tmp_path: Path, **timing: object) -> Path:
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(script(**timing)), encoding="utf-8")
    return path


def test_piped_output_is_one_line_per_item_and_a_summary(tmp_path, workflow_file):
    data = jsonl(tmp_path / "d.jsonl", ['{"ticket": "a"}', "[1]"])
    result = runner.invoke(app, ["batch", str(workflow_file), "--inputs", str(data),
                                 "--mode", "mock", "--script", str(write_script(tmp_path)),
                                 "--output-dir", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output  # one item failed
    lines = result.output.splitlines()
    assert any(line.startswith("✓ line-1 ") for line in lines)
    assert any(line.startswith("✗ line-2 ") and "expected a JSON object" in line
               for line in lines)
    assert lines[-1].startswith("2/2 done · 1 failed · 0 running")


def test_json_prints_every_event_with_its_item(tmp_path, workflow_file):
    data = jsonl(tmp_path / "d.jsonl", ['{"ticket": "a"}'])
    result = runner.invoke(app, ["batch", str(workflow_file), "--inputs", str(data), "--json",
                                 "--mode", "mock", "--script", str(write_script(tmp_path)),
                                 "--output-dir", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    assert events[0] == {"type": "ItemStarted", "item": "line-1", "attempt": 1, "worker": {}}
    text = "".join(e["text"] for e in events
                   if e["type"] == "TextDelta" and e["step"] == "classify")
    assert text == "a bug, and urgent."
    assert events[-1]["type"] == "ItemResult" and events[-1]["record"]["status"] == "completed"


def test_stream_prints_the_chosen_items_tokens_only(tmp_path, workflow_file):
    data = jsonl(tmp_path / "d.jsonl", ['{"ticket": "a"}', '{"ticket": "b"}'])
    result = runner.invoke(app, ["batch", str(workflow_file), "--inputs", str(data),
                                 "--stream", "line-2", "--mode", "mock",
                                 "--script", str(write_script(tmp_path)),
                                 "--output-dir", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert result.output.count("a bug, and urgent.") == 1
    assert "[classify]\na bug, and urgent.\n[reply]\nThanks" in result.output


def test_resume_after_sigkill_finishes_the_batch_and_runs_no_item_twice(tmp_path,
                                                                         workflow_file):
    data = jsonl(tmp_path / "d.jsonl", [f'{{"ticket": "t{n}"}}' for n in range(8)])
    slow = write_script(tmp_path, first_token_delay_s=0.0, tokens_per_second=60, jitter=0)
    command = [*RILLET, "batch", str(workflow_file), "--inputs", str(data), "--json",
               "--mode", "mock", "--script", str(slow), "--concurrency", "2",
               "--output-dir", str(tmp_path / "o")]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    finished: list[str] = []
    for line in first.stdout:
        event = json.loads(line)
        if event["type"] == "ItemResult":
            finished.append(event["item"])
            if len(finished) == 3:
                os.kill(first.pid, signal.SIGKILL)
                break
    first.wait(timeout=30)
    first.stdout.close()
    done_before = [json.loads(x)["item"] for x in
                   (tmp_path / "o" / "batch.jsonl").read_text().splitlines() if x.strip()]
    assert len(done_before) >= 3
    second = subprocess.run([*command, "--resume"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert second.returncode == 0, second.stderr
    started_again = {json.loads(x)["item"] for x in second.stdout.splitlines()
                     if json.loads(x)["type"] == "ItemStarted"}
    assert not started_again & set(done_before)
    records = [json.loads(x) for x in (tmp_path / "o" / "batch.jsonl").read_text().splitlines()]
    assert sorted(r["item"] for r in records) == sorted(f"line-{n}" for n in range(1, 9))
    assert {r["status"] for r in records} == {"completed"}


def test_a_second_batch_into_the_same_folder_is_refused_in_one_line(tmp_path, workflow_file):
    data = jsonl(tmp_path / "d.jsonl", ['{"ticket": "a"}'])
    args = ["batch", str(workflow_file), "--inputs", str(data), "--mode", "mock",
            "--script", str(write_script(tmp_path)), "--output-dir", str(tmp_path / "o")]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert again.output.strip() == (f"rillet batch: {tmp_path / 'o' / 'batch.jsonl'} already "
                                    "holds 1 item(s): pass --resume to go on with it, or "
                                    "choose another --output-dir")
