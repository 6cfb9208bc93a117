"""The batch example as its comments say to run it, from a fresh folder, in the default
mode (no API key: every step on the built-in simulator). The --ray form runs in
tests/integration/test_batch_ray.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from doc_blocks import ROOT

OFFLINE = {k: v for k, v in os.environ.items()
           if k not in ("TEST_MODE", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
                        "CLAUDE_CODE_OAUTH_TOKEN", "GEMINI_API_KEY", "GOOGLE_API_KEY")}


def test_the_documented_batch_command_triages_every_ticket(tmp_path: Path):
    comment = (ROOT / "examples" / "batch" / "triage.yaml").read_text(encoding="utf-8")
    documented = ("rillet batch examples/batch/triage.yaml "
                  "--inputs examples/batch/tickets.jsonl")
    assert documented in comment
    shutil.copytree(ROOT / "examples" / "batch", tmp_path / "examples" / "batch")
    done = subprocess.run([sys.executable, "-m", "rillet.cli", *documented.split()[1:]],
                          cwd=tmp_path, env=OFFLINE, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("4/4 done · 0 failed")
    journal = tmp_path / "outputs" / "batch" / "ticket_triage" / "batch.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sorted(r["inputs"]["customer"] for r in records) == [
        "Ada", "Barbara", "Grace", "Linus"]
    assert all(r["status"] == "completed" and r["steps"]["classify"]["text"]
               and r["steps"]["reply"]["text"] for r in records)
