"""Ctrl-C on `rillet run`: the Claude CLI is ended, the text so far is kept, exit code 130.

The workflow runs in a real subprocess (the real Claude Agent SDK and its bundled CLI,
against the simulator `rillet run` starts for a sim step) and gets a real SIGINT. The CLI processes are
found through a marker in their environment, so "no process left" is checked in /proc.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.sdk

WORDS = " ".join(f"w{i}" for i in range(600))


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry))
    return found


def test_ctrl_c_ends_the_cli_keeps_the_text_and_exits_130(tmp_path: Path):
    script = tmp_path / "script.yaml"
    script.write_text(json.dumps({"rules": [{"match": "long answer", "text": WORDS, "timing": {
        "first_token_delay_s": 0, "tokens_per_second": 60, "chunk_tokens": 1}}]}))
    marker = f"rillet-test-{uuid.uuid4().hex}"
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(f"""
        workflow:
          name: cancel-me
          steps:
            - name: long
              type: claude
              mode: sim
              claude_options:
                max_turns: 1
                env: {{RILLET_TEST_MARKER: {marker}}}
              output_to_file: long.txt
              prompt: "Write a long answer"
    """))
    out = tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-m", "rillet.cli", "run", str(flow), "--output-dir", str(out),
         "--workspace-dir", str(tmp_path / "ws"), "--script", str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = ""
        deadline = time.monotonic() + 30
        while "w20" not in seen and time.monotonic() < deadline:
            seen += _read_some(child)
        assert "w20" in seen, seen
        assert processes_with(marker), "the Claude CLI should be running mid-stream"
        child.send_signal(signal.SIGINT)
        started = time.monotonic()
        rest, _ = child.communicate(timeout=10)
        elapsed = time.monotonic() - started
    finally:
        if child.poll() is None:
            child.kill()
    output = seen + rest
    assert child.returncode == 130, output
    assert "cancelled" in output and "kept in" in output
    assert elapsed < 3, f"exit took {elapsed:.2f} s"
    assert processes_with(marker) == []
    document = json.loads(next(out.glob("*/results.json")).read_text())
    step = document["steps"]["long"]
    assert document["status"] == "cancelled" and step["status"] == "cancelled"
    words = step["text"].split()
    assert len(words) >= 20 and words == [f"w{i}" for i in range(len(words))]
    assert (out / "long.txt").read_text() == step["text"]


def _read_some(child: subprocess.Popen[str]) -> str:
    ready, _, _ = select.select([child.stdout], [], [], 0.05)
    if not ready:
        return ""
    return os.read(child.stdout.fileno(), 65536).decode("utf-8", "replace")  # type: ignore[union-attr]
