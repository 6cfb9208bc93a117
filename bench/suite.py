"""Run the scenarios, print the table, write bench/results/<UTC date>.json.

    python -m bench [--quick] [--scenario N]... [--out DIR]

A scenario that crashes is reported as an error row and the others still run; the exit
status is 1 then, so CI notices a broken benchmark (a missed target is not an error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path
from time import perf_counter
from typing import Any

from bench.harness import BenchConfig, ScenarioResult, machine_info, table

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and one repetition (the CI smoke run)")
    parser.add_argument("--scenario", "-s", type=int, action="append", default=None,
                        metavar="N", help="run only scenario N (repeatable; 1-11)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"folder for the results file (default {RESULTS_DIR})")
    return parser.parse_args(argv)


def run_suite(quick: bool = False, scenarios: list[int] | None = None,
              out: Path | None = None, echo: Any = print) -> tuple[dict[str, Any], Path]:
    from bench.scenarios import NUMBERS, load

    config = BenchConfig.make(quick)
    unknown = set(scenarios or ()) - set(NUMBERS)
    if unknown:
        raise SystemExit(f"no scenario {', '.join(map(str, sorted(unknown)))}; choose 1-{max(NUMBERS)}")
    started_at = datetime.now(timezone.utc)
    results: list[ScenarioResult] = []
    for number in NUMBERS:
        if scenarios is not None and number not in scenarios:
            continue
        module = load(number)
        echo(f"· scenario {module.NUMBER}: {module.TITLE} …", flush=True)
        began = perf_counter()
        try:
            result = asyncio.run(module.run(config))
        except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the rest
            result = ScenarioResult(module.NUMBER, module.TITLE,
                                    error=f"{type(exc).__name__}: {exc}")
            result.details["traceback"] = traceback.format_exc()
        result.seconds = perf_counter() - began
        results.append(result)
        state = f"ERROR {result.error}" if result.error else "done"
        echo(f"  {state} in {result.seconds:.1f} s", flush=True)
    document = {
        "suite": "rillet bench",
        "command": "python -m bench" + (" --quick" if quick else "") +
                   "".join(f" --scenario {n}" for n in scenarios or ()),
        "quick": quick, "repetitions": config.repetitions,
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "scenarios": [r.to_dict() for r in results],
    }
    folder = out or RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    name = started_at.strftime("%Y-%m-%d") + ("-quick" if quick else "") + ".json"
    path = folder / name
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    echo("")
    echo(table(results))
    echo(f"\nresults: {path}")
    return document, path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    document, _ = run_suite(args.quick, args.scenario, args.out)
    return 1 if any(s["error"] for s in document["scenarios"]) else 0


if __name__ == "__main__":
    sys.exit(main())
