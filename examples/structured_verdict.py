"""Watch a structured verdict fill in: each PartialOutput event carries the object as far
as its JSON has arrived, and this redraws it as a table while the step streams.

    python examples/structured_verdict.py                  # the default mode (sim with no key)
    TEST_MODE=mock python examples/structured_verdict.py   # the in-process mock

On a terminal the table is redrawn in place (rich Live); piped, the finished object is
printed once, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

import rillet
from rillet.events import PartialOutput, PipelineCompleted, StepFailed

WORKFLOW = Path(__file__).with_name("structured_verdict.yaml")


def verdict_table(verdict: dict[str, Any]) -> Table:
    table = Table(title="verdict", show_header=False, expand=True)
    table.add_column("field", style="bold", width=10)
    table.add_column("value")
    for key in ("severity", "summary", "approve"):
        if key in verdict:
            table.add_row(key, str(verdict[key]))
    for number, finding in enumerate(verdict.get("findings") or (), start=1):
        title, fix = finding.get("title", ""), finding.get("fix", "")
        table.add_row(f"finding {number}", f"{title}\n→ {fix}")
    return table


async def main(out=sys.stdout) -> int:
    console = Console(file=out)
    latest: dict[str, Any] = {}
    with Live(verdict_table(latest), console=console, auto_refresh=False,
              transient=not console.is_terminal) as live:
        async for event in rillet.stream(WORKFLOW, quiet=True):
            if type(event) is PartialOutput and event.step == "verdict":
                latest = event.value  # one object, growing in place
                if console.is_terminal:
                    live.update(verdict_table(latest), refresh=True)
            elif type(event) is StepFailed:
                console.print(f"[red]{event.step} failed:[/] {event.error}")
                return 1
            elif type(event) is PipelineCompleted:
                break
    if not console.is_terminal:
        out.write(json.dumps(latest, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
