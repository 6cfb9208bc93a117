"""`rillet batch`: one run of a workflow per item of a data set, here or on Ray."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from rillet.errors import RilletError


def batch(
    file: Annotated[Path, typer.Argument(help="The workflow YAML file.", exists=True,
                                         dir_okay=False)],
    inputs: Annotated[Path, typer.Option(
        help="A .jsonl file (one JSON object of inputs a line), a .csv file (a header, then "
             "one row an item) or a folder (one item a file: inputs file, name, content).")],
    concurrency: Annotated[int, typer.Option(min=1, help="Items running at once, at most.")
                           ] = 4,
    output_dir: Annotated[Optional[Path], typer.Option(
        help="Where batch.jsonl and each item's results go. Default: "
             "<the workflow's output_dir>/batch/<workflow name>.")] = None,
    ray: Annotated[bool, typer.Option(
        "--ray", help="Run the items as Ray tasks (a local Ray cluster unless --ray-address "
                      "names one). Needs `pip install 'rillet[ray]'`.")] = False,
    ray_address: Annotated[Optional[str], typer.Option(
        help="A Ray cluster to run on, e.g. ray://head:10001 or auto (implies --ray).")
                           ] = None,
    resume: Annotated[bool, typer.Option(
        help="Go on with the batch.jsonl in --output-dir: items done there are skipped.")
                      ] = False,
    stream: Annotated[Optional[str], typer.Option(
        help="Show this item's tokens live (an item id, e.g. line-3 or a file name).")
                      ] = None,
    max_cost_usd: Annotated[Optional[float], typer.Option(
        min=0, help="A budget for the whole batch: once spent, no new item starts and the "
                    "running ones are cancelled (their text so far is kept).")] = None,
    mode: Annotated[Optional[str], typer.Option(
        help="mock | sim | live | mixed, as for `rillet run`.")] = None,
    script: Annotated[Optional[Path], typer.Option(
        help="Simulator/mock script (YAML) to answer prompts with.")] = None,
    json_lines: Annotated[bool, typer.Option(
        "--json", help="Print every event as one JSON line on stdout (items' events too).")
                          ] = False,
) -> None:
    """Run the workflow once per item of --inputs, several at a time, with live progress."""
    from rillet.batching.progress import Progress
    from rillet.batching.scheduler import BatchStats
    from rillet.batching.scheduler import batch as run_batch
    from rillet.cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_INVALID, _load

    workflow = _load(file)
    if mode is not None and mode not in ("mock", "sim", "live", "mixed"):
        raise typer.BadParameter("choose mock, sim, live or mixed", param_hint="--mode")
    stats = BatchStats()
    progress = Progress(stats, sys.stdout, follow=stream, json_lines=json_lines)

    async def go() -> None:
        with progress:
            async for out in run_batch(
                    workflow, inputs, output_dir=output_dir, concurrency=concurrency,
                    resume=resume, ray=ray_address or ray, events=True,
                    max_cost_usd=max_cost_usd, mode=mode, script=script, stats=stats):
                progress.show(out)

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        typer.echo("cancelled: running items were stopped and recorded as cancelled; "
                   "--resume runs them again", err=True)
        raise typer.Exit(EXIT_CANCELLED) from None
    except RilletError as exc:
        typer.echo(f"rillet batch: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    raise typer.Exit(0 if stats.failed == stats.cancelled == 0 else EXIT_FAILED)
