"""cProfile of the per-delta path: `python -m bench.profile [--deltas N] [--handler NAME]`.

One run of a one-step workflow fed by the synthetic provider (ready-made events), so the
profile shows rillet's own per-delta work: executor loop, AsyncResponse, metrics,
handlers. Prints the functions with the most own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats

from bench.paths import prebuilt_events, replay, run_dirs, step_yaml, synthetic_provider, workflow


async def _run(deltas: int, handlers: list[str]) -> None:
    import rillet

    events = prebuilt_events("profiled", deltas)
    flow = workflow("bench-profile", [step_yaml("profiled", "profile", mode="mock",
                                                handlers=handlers or None)])
    with run_dirs() as dirs, synthetic_provider(lambda request: replay(events)):
        result = await rillet.run_async(flow, mode="mock", prewarm=False, telemetry=False,
                                        **dirs)
    if not result.success:
        raise SystemExit(f"the profiled run failed: {result.error}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--deltas", type=int, default=200_000)
    parser.add_argument("--handler", action="append", default=[],
                        help="stream handler for the step (repeatable)")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(_run(args.deltas, args.handler))
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
