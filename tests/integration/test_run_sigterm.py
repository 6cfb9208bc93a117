"""SIGTERM on `rillet run` ends the run as Ctrl-C does: the results are written with the
text produced so far, and the exit code is 143 (128 + SIGTERM). A real subprocess."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

WORDS = " ".join(f"w{i}" for i in range(600))


def test_sigterm_keeps_the_text_writes_the_results_and_exits_143(tmp_path: Path):
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(f"""
        workflow:
          name: terminate-me
          steps:
            - name: long
              type: claude
              output_to_file: long.txt
              prompt: "Write a long answer"
              mock:
                text: "{WORDS}"
                timing: {{first_token_delay_s: 0, tokens_per_second: 60, chunk_tokens: 1}}
    """))
    out = tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-m", "rillet.cli", "run", str(flow), "--mode", "mock",
         "--output-dir", str(out), "--workspace-dir", str(tmp_path / "ws")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = ""
        deadline = time.monotonic() + 30
        while "w20" not in seen and time.monotonic() < deadline:
            seen += _read_some(child)
        assert "w20" in seen, seen
        child.send_signal(signal.SIGTERM)
        rest, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    output = seen + rest
    assert child.returncode == 143, output
    assert "Traceback" not in output
    assert "cancelled" in output
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
