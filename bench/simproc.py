"""The simulator in its own process, so its work does not share the benchmark's GIL and
event loop (on loopback only). `python -m bench.simproc` reads a script as JSON on stdin's
first line, prints the base URL, and serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def simulator_process(script: dict[str, Any]) -> Iterator[str]:
    """Start a simulator answering from `script` (a Script dict); yields its base URL."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    process = subprocess.Popen([sys.executable, "-m", "bench.simproc"], cwd=ROOT, env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(script) + "\n")
        process.stdin.flush()
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the simulator process did not start (said {url!r})")
        yield url
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _serve(script_data: dict[str, Any]) -> None:
    from rillet.sim.script import Script
    from rillet.sim.server import Simulator

    async with Simulator(Script.from_dict(script_data)) as sim:
        print(sim.base_url, flush=True)
        loop = asyncio.get_running_loop()
        # Serve until the parent closes our stdin (or dies).
        await loop.run_in_executor(None, sys.stdin.read)


def main() -> None:
    script_data = json.loads(sys.stdin.readline())
    asyncio.run(_serve(script_data))


if __name__ == "__main__":
    main()
