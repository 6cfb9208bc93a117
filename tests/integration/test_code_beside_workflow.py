"""A Python file beside a workflow runs only when the workflow names it.

Before, the loader put the workflow's folder on sys.path, so a library's optional import
(aiohttp tries `import brotli`) picked up a `brotli.py` placed there, in `--mode sim`.
The run happens in a real subprocess started elsewhere, as a user would start it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_a_brotli_py_beside_the_workflow_does_not_run_in_sim_mode(tmp_path: Path):
    folder = tmp_path / "downloaded"
    folder.mkdir()
    marker = tmp_path / "brotli-ran.txt"
    (folder / "brotli.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    flow = folder / "flow.yaml"
    flow.write_text(textwrap.dedent("""
        workflow:
          name: innocent
          steps:
            - name: ask
              type: gemini
              prompt: "hello"
    """))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    done = subprocess.run(
        [sys.executable, "-m", "rillet.cli", "run", str(flow), "--mode", "sim",
         "--output-dir", str(tmp_path / "out"), "--workspace-dir", str(tmp_path / "ws")],
        cwd=elsewhere, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stdout + done.stderr
    assert not marker.exists(), "brotli.py beside the workflow was imported"
