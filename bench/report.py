"""Print a results file as the Markdown that docs/performance.md shows:

    python -m bench.report [bench/results/<date>.json]   (default: the newest full run)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from bench.harness import Row, ScenarioResult, markdown_table
from bench.suite import RESULTS_DIR

_FULL_RUN = re.compile(r"\d{4}-\d{2}-\d{2}")


def load(path: Path) -> tuple[dict[str, Any], list[ScenarioResult]]:
    document = json.loads(path.read_text(encoding="utf-8"))
    results = []
    for data in document["scenarios"]:
        result = ScenarioResult(data["number"], data["title"], error=data["error"],
                                seconds=data["seconds"])
        for row in data["rows"]:
            result.rows.append(Row(row["metric"], row["rillet"], row["unit"], row["baseline"],
                                   row["baseline_name"], row["target"], row["compare"],
                                   row["note"]))
        results.append(result)
    return document, results


def machine_line(machine: dict[str, Any]) -> str:
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items()
                         if version)
    return (f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB RAM, "
            f"{machine['implementation']} {machine['python']} on {machine['os']}; {packages}")


def render(path: Path) -> str:
    document, results = load(path)
    return "\n".join([
        f"Command: `{document['command']}` — started {document['started_at']}, "
        f"finished {document['finished_at']} (results: `{path.name}`).",
        "",
        f"Machine: {machine_line(document['machine'])}.",
        "",
        markdown_table(results),
    ])


def newest() -> Path:
    # A full run's file is named by its date alone; `-quick` runs and runs kept under
    # another name (`<date>-containers.json`, `batch/`) are partial.
    full = sorted(p for p in RESULTS_DIR.glob("*.json") if _FULL_RUN.fullmatch(p.stem))
    if not full:
        raise SystemExit(f"no full results in {RESULTS_DIR}; run `make bench` first")
    return full[-1]


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else newest()
    print(render(path))


if __name__ == "__main__":
    main()
