"""rillet batch on a local Ray cluster (`ray.init(num_cpus=2)`, one for the module): the
events come home coalesced, and a worker killed mid-item makes the item run again
elsewhere and appear once in batch.jsonl."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import rillet  # noqa: E402
from rillet.batching import ItemEvent, ItemResult, ItemRetried, ItemStarted  # noqa: E402
from rillet.events import TextDelta  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "batching"))
from batch_flows import TWO_STEPS, jsonl, script, slow_script  # noqa: E402

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def workflow_file(tmp_path: Path) -> Path:
    path = tmp_path / "two_steps.yaml"
    path.write_text(TWO_STEPS, encoding="utf-8")
    return path


def lines(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "batch.jsonl").read_text().splitlines()]


async def test_items_run_in_ray_workers_and_their_tokens_come_home_coalesced(
        cluster, tmp_path, workflow_file):
    from rillet.sim.script import Script

    long_text = " ".join(f"word{n}" for n in range(400))
    fast = Script.model_validate({**script(), "rules": [
        {"match": "Classify", "text": long_text}, {"match": "Reply", "text": "On it."}]})
    data = jsonl(tmp_path / "d.jsonl", ['{"ticket": "a"}', '{"ticket": "b"}'])
    outs = [o async for o in rillet.batch(workflow_file, data, output_dir=tmp_path / "o",
                                          mode="mock", script=fast, ray=True, events=True)]
    workers = {o.worker["pid"] for o in outs if type(o) is ItemStarted}
    assert os.getpid() not in workers
    deltas = [o.event for o in outs if type(o) is ItemEvent and type(o.event) is TextDelta
              and o.item == "line-1" and o.event.step == "classify"]
    assert "".join(d.text for d in deltas) == long_text
    assert len(deltas) < 400 / 4  # 800 tokens arrive in far fewer chunks
    results = {o.item: o for o in outs if type(o) is ItemResult}
    assert results["line-1"].record["steps"]["classify"]["text"] == long_text
    assert Path(results["line-2"].record["results_path"]).exists()
    assert sorted(x["item"] for x in lines(tmp_path / "o")) == ["line-1", "line-2"]


async def test_a_worker_killed_mid_item_runs_it_again_elsewhere_and_it_appears_once(
        cluster, tmp_path, workflow_file):
    data = jsonl(tmp_path / "d.jsonl", ['{"ticket": "a"}', '{"ticket": "b"}',
                                        '{"ticket": "c"}'])
    killed: dict[str, int] = {}
    outs = []
    async for out in rillet.batch(workflow_file, data, output_dir=tmp_path / "o",
                                  mode="mock", script=slow_script(20), ray=True,
                                  events=True, concurrency=2):
        outs.append(out)
        if (type(out) is ItemEvent and out.item == "line-1" and not killed
                and type(out.event) is TextDelta):
            pid = next(o.worker["pid"] for o in outs
                       if type(o) is ItemStarted and o.item == "line-1")
            os.kill(pid, signal.SIGKILL)
            killed["line-1"] = pid
    retried = [o for o in outs if type(o) is ItemRetried]
    assert [(r.item, r.attempt) for r in retried] == [("line-1", 2)]
    assert "Ray worker was lost" in retried[0].reason
    second = [o for o in outs if type(o) is ItemStarted and o.item == "line-1"][-1]
    assert second.attempt == 2 and second.worker["pid"] != killed["line-1"]
    records = lines(tmp_path / "o")
    assert sorted(x["item"] for x in records) == ["line-1", "line-2", "line-3"]
    first = next(x for x in records if x["item"] == "line-1")
    assert (first["status"], first["attempts"]) == ("completed", 2)
    assert first["steps"]["reply"]["text"] == "Thanks, we are on it and will write back."



def test_a_cancelled_worker_generator_stops_its_run_and_keeps_the_text(cluster, tmp_path,
                                                                        workflow_file):
    """What a worker does when the driver cancels it (ray.cancel closes the generator)."""
    import threading

    from rillet.batching.inputs import Item
    from rillet.batching.item import ItemSettings
    from rillet.batching.ray_backend import _run_remote
    from rillet.workflow.loader import load_workflow

    settings = ItemSettings(output_dir=tmp_path / "o", mode="mock",
                            script=slow_script(20).model_dump(mode="json", exclude_unset=True))
    chunks = _run_remote(load_workflow(workflow_file), Item("one", "test", {"ticket": "a"}),
                         settings, 1)
    kind, worker = next(chunks)
    assert kind == "started" and worker["pid"] == os.getpid()
    seen = ""
    while "urgent" not in seen:
        kind, events = next(chunks)
        seen += "".join(e.text for e in events if type(e) is TextDelta)
    chunks.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("rillet-item-")]
    document = json.loads((tmp_path / "o" / "items" / "one" / "one" / "results.json")
                          .read_text())
    assert document["status"] == "cancelled"
    assert document["steps"]["classify"]["text"].startswith("a bug, and urgent")


# -- the command line, in its own process: it starts (and must stop) its own cluster --------

ROOT = Path(__file__).parents[2]
RILLET = [sys.executable, "-m", "rillet.cli"]


def offline_env() -> dict[str, str]:
    """The environment of a fresh clone without API keys: every step runs on the simulator."""
    drop = ("TEST_MODE", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN",
            "GEMINI_API_KEY", "GOOGLE_API_KEY")
    return {k: v for k, v in os.environ.items() if k not in drop}


def session_processes(sid: int) -> list[str]:
    ps = subprocess.run(["ps", "-e", "-o", "sid=,pid=,args="], capture_output=True, text=True)
    return [line for line in ps.stdout.splitlines() if line.split()[0] == str(sid)]


def test_the_documented_example_runs_with_ray_and_leaves_no_process(tmp_path):
    import shutil

    shutil.copytree(ROOT / "examples" / "batch", tmp_path / "examples" / "batch")
    command = [*RILLET, "batch", "examples/batch/triage.yaml",
               "--inputs", "examples/batch/tickets.csv", "--ray"]
    done = subprocess.run(command, cwd=tmp_path, env=offline_env(), capture_output=True,
                          text=True, timeout=200, start_new_session=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1].startswith("4/4 done · 0 failed")
    records = lines(tmp_path / "outputs" / "batch" / "ticket_triage")
    assert sorted(r["item"] for r in records) == ["line-2", "line-3", "line-4", "line-5"]
    assert all(r["steps"]["reply"]["text"] for r in records)


def test_ctrl_c_cancels_the_remote_items_records_them_and_stops_every_process(
        tmp_path, workflow_file):
    import subprocess as sp

    import yaml

    slow = tmp_path / "slow.yaml"
    slow.write_text(yaml.safe_dump(script(first_token_delay_s=0.0, tokens_per_second=5,
                                          jitter=0)), encoding="utf-8")
    data = jsonl(tmp_path / "d.jsonl", [f'{{"ticket": "t{n}"}}' for n in range(6)])
    command = [*RILLET, "batch", str(workflow_file), "--inputs", str(data), "--ray",
               "--json", "--mode", "mock", "--script", str(slow), "--concurrency", "2",
               "--output-dir", str(tmp_path / "o")]
    proc = sp.Popen(command, cwd=tmp_path, env=offline_env(), stdout=sp.PIPE, text=True,
                    start_new_session=True)
    workers: set[int] = set()
    for line in proc.stdout:
        event = json.loads(line)
        if event["type"] == "ItemStarted":
            workers.add(event["worker"]["pid"])
        if event["type"] == "TextDelta" and len(workers) == 2:
            proc.send_signal(signal.SIGINT)
            break
    proc.stdout.read()
    assert proc.wait(timeout=60) == 130
    records = lines(tmp_path / "o")
    assert len(records) == 2 and {r["status"] for r in records} == {"cancelled"}
    assert any(s["text"] for r in records for s in r["steps"].values())
    assert session_processes(proc.pid) == []
    for pid in workers:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"Ray worker {pid} outlived the batch")
