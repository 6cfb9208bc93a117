"""Scenario 12: the per-delta cost of structured output streaming as partial objects.

A 50 kB JSON reply (a review with a few hundred findings), cut into word-sized deltas the
way the simulator streams it, runs through a whole step twice: as plain text, and with
`output_schema`, where the deltas also go through the incremental parser and
PartialOutput events carry the object so far (and the object is validated at the end). The ratio of the two CPU costs per delta is the figure (target: at most 2x for
the streaming part). A third run with an open schema (`type: object`) separates what the
streaming costs from the one validation at the end. The reply is replayed as fast as
rillet takes it, so its deltas come in one burst, share PartialOutput events (at most
one per 5 ms) and are parsed together when one may go; the row "after every delta" turns
that off (each delta parsed and followed by its PartialOutput), which is what a model's
pace (10-20 ms a token) gives.
Also shown: the parser alone against re-parsing the whole prefix with jiter's partial
mode on every delta, the quadratic way it is often done.
"""

from __future__ import annotations

import json
from time import perf_counter, process_time
from typing import Any

from bench.harness import AT_MOST, BenchConfig, ScenarioResult, alternate, median
from bench.paths import replay, run_dirs, step_yaml, synthetic_provider, workflow
from rillet.events import MessageComplete, ResponseComplete, TextDelta, Usage

NUMBER, TITLE = 12, "partial-output parsing of a 50 kB JSON reply"
STEP = "review"
SCHEMA = {"type": "object", "required": ["verdict", "findings"], "properties": {
    "verdict": {"enum": ["approve", "request_changes"]},
    "findings": {"type": "array", "items": {"type": "object", "properties": {
        "file": {"type": "string"}, "line": {"type": "integer"},
        "severity": {"enum": ["low", "medium", "high"]}, "title": {"type": "string"},
        "detail": {"type": "string"}}}}}}


def review_json(size: int) -> str:
    findings: list[dict[str, Any]] = []
    document = {"verdict": "request_changes", "findings": findings}
    while len(json.dumps(document)) < size:
        n = len(findings)
        findings.append({"file": f"src/pkg/module_{n % 17}.py", "line": 10 + n * 7,
                         "severity": ("low", "medium", "high")[n % 3],
                         "title": f"Finding {n}: the lock is taken twice",
                         "detail": "The cache lock is taken in refresh() and again in "
                                   "load(); a second caller waits for ever. Take it once."})
    return json.dumps(document)


def stream_events(text: str) -> list[Any]:
    from rillet.sim.script import tokenize

    events: list[Any] = [TextDelta(STEP, piece) for piece in tokenize(text)]
    count = len(events)
    return events + [Usage(STEP, 12, count), MessageComplete(STEP, "end_turn", "m"),
                     ResponseComplete(STEP, "m", "end_turn", 12, count)]


def _runner(events: list[Any], text: str, schema: dict[str, Any] | None,
            every_s: float | None = None):
    import rillet
    from rillet.structured.stream import structured_stream

    structured = schema is not None
    extra = {"output_schema": schema} if structured else None
    flow = workflow("bench-partial", [step_yaml(STEP, "review", mode="mock", extra=extra)])

    def make_stream(request: Any) -> Any:
        if request.output_schema is None:
            return replay(events)
        if every_s is None:
            return structured_stream(lambda attempt: replay(events), request)
        return structured_stream(lambda attempt: replay(events), request, every_s=every_s)

    async def run() -> dict[str, float]:
        with run_dirs() as dirs, synthetic_provider(make_stream):
            started, cpu = perf_counter(), process_time()
            result = await rillet.run_async(flow, mode="mock", prewarm=False, telemetry=False,
                                            **dirs)
            wall, cpu = perf_counter() - started, process_time() - cpu
        if not result.success or result[STEP].text != text:
            raise RuntimeError(f"the benchmark run failed: {result.error}")
        if structured and result[STEP].output != json.loads(text):
            raise RuntimeError("the structured run did not return the object")
        return {"wall": wall, "cpu": cpu}

    return run


def _parser_alone(pieces: list[str]):
    from rillet.structured.partial import PartialJSON

    async def run() -> dict[str, float]:
        cpu = process_time()
        parser = PartialJSON()
        for piece in pieces:
            parser.feed(piece)
        return {"cpu": process_time() - cpu}

    return run


def _jiter_reparse(pieces: list[str]):
    import jiter

    async def run() -> dict[str, float]:
        cpu = process_time()
        seen = b""
        for piece in pieces:
            seen += piece.encode()
            jiter.from_json(seen, partial_mode="trailing-strings")
        return {"cpu": process_time() - cpu}

    return run


async def run(config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult(NUMBER, TITLE)
    text = review_json(config.pick(10_000, 50_000))
    events = stream_events(text)
    pieces = [e.text for e in events if type(e) is TextDelta]
    deltas = len(pieces)
    variants = {"text": _runner(events, text, None), "structured": _runner(events, text, SCHEMA),
                "open": _runner(events, text, {"type": "object"}),
                "every": _runner(events, text, {"type": "object"}, every_s=0.0),
                "parser": _parser_alone(pieces), "jiter": _jiter_reparse(pieces)}
    samples = await alternate(variants, config.repetitions)
    cpu = {name: median([s["cpu"] for s in samples[name]]) for name in variants}
    per_delta = {name: value / deltas * 1e6 for name, value in cpu.items()}
    result.row("CPU per delta, whole step, plain text", per_delta["text"], "µs")
    result.row("CPU per delta, whole step, output_schema + PartialOutput",
               per_delta["structured"], "µs", baseline=per_delta["text"],
               baseline_name="the same reply as plain text")
    result.row("CPU per delta, the same with an open schema (validation next to nothing)",
               per_delta["open"], "µs", baseline=per_delta["text"],
               baseline_name="the same reply as plain text")
    result.row("streaming cost: open-schema / plain per delta",
               per_delta["open"] / per_delta["text"], "x", target=2.0, compare=AT_MOST)
    result.row("CPU per delta, open schema, a PartialOutput after every delta (no coalescing)",
               per_delta["every"], "µs", baseline=per_delta["text"],
               baseline_name="the same reply as plain text")
    result.row("final validation of the 50 kB object (jsonschema), once",
               (cpu["structured"] - cpu["open"]) * 1e3, "ms")
    result.row("CPU per delta, incremental parser alone", per_delta["parser"], "µs")
    result.row("CPU per delta, jiter partial mode re-parsing the prefix on every delta",
               per_delta["jiter"], "µs")
    result.details = {"reply_bytes": len(text.encode()), "deltas": deltas,
                      "repetitions": config.repetitions, "cpu_s": cpu,
                      "cpu_us_per_delta": per_delta}
    return result
