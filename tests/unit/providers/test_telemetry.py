"""OpenTelemetry: pipeline and step spans, their attributes and status, the metrics, the
telemetry switch, and the exporters chosen by the standard OTEL_* settings."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from rillet.errors import ProviderError
from rillet.events import (
    MessageComplete, ResponseComplete, StreamRetry, TextDelta, ThinkingDelta, Usage,
)
from rillet.providers import telemetry
from rillet.providers.base import ModelRequest
from rillet.providers.pricing import price_usd, priced_stream
from rillet.providers.telemetry import pipeline_span, telemetry_enabled, traced_stream

MODEL = "claude-sonnet-4-5"


@pytest.fixture
def otel():
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    telemetry.use_providers(tracer_provider, MeterProvider(metric_readers=[reader]))
    yield spans, reader
    telemetry.reset()


def request(model: str | None = MODEL, step: str = "draft") -> ModelRequest:
    return ModelRequest(step=step, prompt="p", model=model, mode="sim")


async def reply(step: str = "draft", *, cost: float | None = None, pause: float = 0.0):
    """What a provider streams: a first-token delay, deltas, usage, the final word."""
    yield Usage(step, 1200, 0)
    await asyncio.sleep(pause)
    yield ThinkingDelta(step, "hmm")
    for word in ("The", " river", " runs"):
        yield TextDelta(step, word)
    yield Usage(step, 1200, 30)
    yield MessageComplete(step, "end_turn", MODEL)
    if cost is not None:
        yield Usage(step, 1200, 30, cost)
    yield ResponseComplete(step, model=MODEL, stop_reason="end_turn", input_tokens=1200,
                           output_tokens=30, cost_usd=cost, session_id="sess-1")


async def drain(stream) -> list:
    return [event async for event in stream]


def by_name(spans, name):
    return [s for s in spans.get_finished_spans() if s.name == name]


def metric_points(reader) -> dict[str, list]:
    found: dict[str, list] = {}
    for resource_metrics in reader.get_metrics_data().resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


# --- spans ---------------------------------------------------------------------------------


async def test_a_step_span_is_a_child_of_the_pipeline_span_with_real_figures(otel):
    spans, _ = otel
    req = request()
    with pipeline_span("story", "run-42"):
        out = await drain(traced_stream(priced_stream(reply(pause=0.02), req), req,
                                        "anthropic_api"))
    [pipeline] = by_name(spans, "rillet.pipeline")
    [step] = by_name(spans, "rillet.step")
    assert dict(pipeline.attributes) == {"rillet.workflow": "story", "rillet.run_id": "run-42"}
    assert step.parent.span_id == pipeline.context.span_id
    assert step.context.trace_id == pipeline.context.trace_id
    a = step.attributes
    cost = price_usd(MODEL, 1200, 30)
    assert (a["rillet.step"], a["rillet.provider"], a["rillet.mode"]) == ("draft",
                                                                          "anthropic_api", "sim")
    assert (a["gen_ai.system"], a["gen_ai.provider.name"], a["gen_ai.operation.name"]) == (
        "anthropic", "anthropic", "chat")
    assert (a["gen_ai.request.model"], a["gen_ai.response.model"]) == (MODEL, MODEL)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (1200, 30)
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["rillet.cost_usd"] == pytest.approx(cost)
    assert a["rillet.cost_estimate_usd"] == pytest.approx(cost)
    assert a["rillet.deltas"] == 4  # thinking and text deltas
    assert a["rillet.retries"] == 0
    assert a["rillet.session_id"] == "sess-1"
    assert 0.018 <= a["rillet.ttft_s"] < a["rillet.duration_s"]  # the real 20 ms wait
    assert step.status.status_code is StatusCode.UNSET
    assert [type(e).__name__ for e in out][-1] == "ResponseComplete"


async def test_a_provider_total_is_the_reported_cost_and_the_table_figure_sits_beside_it(otel):
    spans, _ = otel
    req = request()
    await drain(traced_stream(priced_stream(reply(cost=0.05), req), req, "claude_agent"))
    [step] = by_name(spans, "rillet.step")
    estimate = price_usd(MODEL, 1200, 30)
    assert step.attributes["rillet.cost_usd"] == 0.05
    assert step.attributes["rillet.cost_estimate_usd"] == pytest.approx(estimate)
    assert step.attributes["rillet.cost_estimate_error_usd"] == pytest.approx(estimate - 0.05)


async def test_a_failing_source_marks_the_step_and_the_pipeline_failed(otel):
    spans, _ = otel

    async def overloaded():
        yield TextDelta("draft", "The")
        raise ProviderError("overloaded_error: try later", kind="overloaded")

    req = request()
    with pytest.raises(ProviderError):
        with pipeline_span("story", "run-1"):
            await drain(traced_stream(overloaded(), req, "anthropic_api"))
    [step] = by_name(spans, "rillet.step")
    [pipeline] = by_name(spans, "rillet.pipeline")
    assert step.status.status_code is StatusCode.ERROR
    assert step.status.description == "overloaded_error: try later"
    assert step.attributes["error.type"] == "overloaded"
    assert step.attributes["rillet.deltas"] == 1
    assert [e.name for e in step.events] == ["exception"]
    assert step.events[0].attributes["exception.type"].endswith("ProviderError")
    assert pipeline.status.status_code is StatusCode.ERROR


async def test_a_stream_without_its_final_result_is_an_incomplete_step(otel):
    spans, _ = otel

    async def cut_short():
        yield TextDelta("draft", "The")

    await drain(traced_stream(cut_short(), request(), "gemini"))
    [step] = by_name(spans, "rillet.step")
    assert step.status.status_code is StatusCode.ERROR
    assert step.attributes["error.type"] == "incomplete"
    assert step.attributes["gen_ai.system"] == "gcp.gemini"


async def test_an_error_result_marks_the_step_failed(otel):
    spans, _ = otel

    async def error_result():
        yield ResponseComplete("draft", model=MODEL, is_error=True, error="max turns reached")

    await drain(traced_stream(error_result(), request(), "claude_agent"))
    [step] = by_name(spans, "rillet.step")
    assert step.status.status_code is StatusCode.ERROR
    assert step.status.description == "max turns reached"


async def test_cancelling_a_step_marks_it_cancelled_and_reaches_the_provider(otel):
    spans, _ = otel
    closed = asyncio.Event()
    waiting = asyncio.Event()

    async def slow():
        try:
            yield TextDelta("draft", "The")
            waiting.set()
            await asyncio.sleep(60)
            yield TextDelta("draft", " never")
        finally:
            closed.set()

    async def consume():
        with pipeline_span("story", "run-2"):
            await drain(traced_stream(slow(), request(), "claude_agent"))

    task = asyncio.create_task(consume())
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed.is_set()
    for span in spans.get_finished_spans():
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "cancelled"
        assert span.attributes["rillet.cancelled"] is True
    assert {s.name for s in spans.get_finished_spans()} == {"rillet.pipeline", "rillet.step"}


async def test_closing_a_traced_stream_closes_its_source_and_ends_the_span(otel):
    spans, _ = otel
    closed = []

    async def source():
        try:
            for i in range(100):
                yield TextDelta("draft", str(i))
        finally:
            closed.append(True)

    stream = traced_stream(source(), request(), "anthropic_api")
    await anext(stream)
    await stream.aclose()
    assert closed == [True]
    [step] = by_name(spans, "rillet.step")
    assert step.attributes["rillet.cancelled"] is True
    assert step.attributes["rillet.deltas"] == 1


async def test_retries_are_counted_and_the_events_pass_unchanged(otel):
    spans, _ = otel
    events = [TextDelta("draft", "a"), StreamRetry("draft", 1, "dropped"),
              TextDelta("draft", "a"), ResponseComplete("draft", model=MODEL)]

    async def source():
        for event in events:
            yield event

    out = await drain(traced_stream(source(), request(), "claude_agent"))
    assert all(a is b for a, b in zip(out, events)) and len(out) == len(events)
    [step] = by_name(spans, "rillet.step")
    assert step.attributes["rillet.retries"] == 1


@pytest.mark.sdk
async def test_with_the_real_claude_cli_its_total_is_the_cost_and_the_table_agrees(otel, sim,
                                                                                   tmp_path):
    from rillet.providers.claude_agent import ClaudeAgentProvider

    spans, _ = otel
    provider = ClaudeAgentProvider(mode="sim", base_url=sim.base_url)
    req = ModelRequest(step="story", prompt="tell me about rivers", model=MODEL, mode="sim",
                       workspace_dir=str(tmp_path))
    notes = []
    try:
        out = await drain(traced_stream(priced_stream(provider.stream(req), req,
                                                      on_reconcile=notes.append),
                                        req, "claude_agent"))
    finally:
        await provider.aclose()
    usages = [e for e in out if type(e) is Usage]
    # While streaming, the Usage events carry the table's running cost ...
    assert usages[0].cost_usd == pytest.approx(price_usd(MODEL, usages[0].input_tokens,
                                                         usages[0].output_tokens))
    # ... and the CLI's own total (its ResultMessage) is the step's cost at the end.
    final = out[-1]
    [note] = notes
    assert type(final) is ResponseComplete and final.cost_usd == note.provider_usd > 0
    assert note.table_usd == pytest.approx(note.provider_usd)  # same prices as the CLI's
    [step] = by_name(spans, "rillet.step")
    assert step.attributes["rillet.cost_usd"] == final.cost_usd
    assert step.attributes["rillet.cost_estimate_error_usd"] == pytest.approx(0, abs=1e-9)
    assert step.attributes["gen_ai.usage.output_tokens"] == final.output_tokens > 0
    assert step.attributes["rillet.deltas"] > 1
    assert 0 < step.attributes["rillet.ttft_s"] < step.attributes["rillet.duration_s"]


# --- metrics -------------------------------------------------------------------------------


async def test_ttft_tokens_per_second_cost_and_tokens_are_recorded(otel):
    spans, reader = otel
    req = request()
    await drain(traced_stream(priced_stream(reply(pause=0.01), req), req, "anthropic_api"))
    [step] = by_name(spans, "rillet.step")
    points = metric_points(reader)
    [ttft] = points["rillet.step.ttft"]
    assert ttft.count == 1
    assert ttft.sum == pytest.approx(step.attributes["rillet.ttft_s"])
    assert dict(ttft.attributes) == {"rillet.step": "draft", "rillet.provider": "anthropic_api",
                                     "gen_ai.system": "anthropic", "gen_ai.request.model": MODEL}
    [speed] = points["rillet.step.output_tokens_per_second"]
    assert speed.sum == pytest.approx(step.attributes["rillet.output_tokens_per_s"])
    [cost] = points["rillet.cost"]
    assert cost.value == pytest.approx(price_usd(MODEL, 1200, 30))
    tokens = {p.attributes["gen_ai.token.type"]: p.value for p in points["rillet.tokens"]}
    assert tokens == {"input": 1200, "output": 30}


async def test_metrics_add_up_over_steps_and_failures_are_labelled(otel):
    _, reader = otel
    for step in ("a", "b"):
        req = request(step=step)
        await drain(traced_stream(priced_stream(reply(step), req), req, "anthropic_api"))

    async def broken():
        yield Usage("c", 500, 0, 0.001)
        raise ProviderError("connection reset", kind="network")

    with pytest.raises(ProviderError):
        await drain(traced_stream(broken(), request(step="c"), "anthropic_api"))
    points = metric_points(reader)
    costs = {p.attributes["rillet.step"]: p.value for p in points["rillet.cost"]}
    assert costs == pytest.approx({"a": price_usd(MODEL, 1200, 30),
                                   "b": price_usd(MODEL, 1200, 30), "c": 0.001})
    failed = [p for p in points["rillet.tokens"] if p.attributes["rillet.step"] == "c"]
    assert [(p.attributes["error.type"], p.value) for p in failed] == [("network", 500)]
    assert {p.attributes["rillet.step"] for p in points["rillet.step.ttft"]} == {"a", "b"}


# --- the switch ----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "on"), [
    ("1", True), ("true", True), ("TRUE", True), (" yes ", True),
    ("0", False), ("false", False), ("no", False), ("", False), ("on-ish", False),
])
def test_the_environment_turns_telemetry_on(monkeypatch, value, on):
    monkeypatch.setenv("RILLET_TELEMETRY", value)
    assert telemetry_enabled(None) is on


def test_telemetry_is_off_unless_enabled_and_an_explicit_flag_wins(monkeypatch):
    monkeypatch.delenv("RILLET_TELEMETRY", raising=False)
    assert telemetry_enabled(None) is False
    assert telemetry_enabled(True) is True
    monkeypatch.setenv("RILLET_TELEMETRY", "1")
    assert telemetry_enabled(False) is False


# --- exporters from the standard settings (each in a fresh process: the global providers
# --- can be set only once) -----------------------------------------------------------------

SCRIPT = textwrap.dedent("""
    import asyncio
    from rillet.events import ResponseComplete, TextDelta, Usage
    from rillet.providers.base import ModelRequest
    from rillet.providers.telemetry import pipeline_span, traced_stream

    async def source():
        yield TextDelta("draft", "Hello")
        yield Usage("draft", 10, 2, 0.001)
        yield ResponseComplete("draft", model="claude-haiku-4-5", input_tokens=10,
                               output_tokens=2, cost_usd=0.001)

    async def main():
        {setup}
        request = ModelRequest(step="draft", prompt="p", model="claude-haiku-4-5")
        with pipeline_span("story", "run-7"):
            async for _ in traced_stream(source(), request, "anthropic_api"):
                pass
        {check}

    asyncio.run(main())
""")


def run_script(env: dict[str, str], setup: str = "pass", check: str = "pass"):
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("OTEL_") and k != "RILLET_TELEMETRY"}
    return subprocess.run([sys.executable, "-c", SCRIPT.format(setup=setup, check=check)],
                          env={**clean, **env}, capture_output=True, text=True, timeout=60)


def test_the_console_exporter_prints_spans_and_metrics_to_stderr():
    done = run_script({"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "rillet-test"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # stdout is the model's text, never telemetry
    decoder = json.JSONDecoder()
    spans, text, at = [], done.stderr, 0
    while (start := text.find('{\n    "name": "rillet.', at)) != -1:
        span, at = decoder.raw_decode(text, start)
        spans.append(span)
    assert [s["name"] for s in spans] == ["rillet.step", "rillet.pipeline"]
    step, pipeline = spans
    assert step["parent_id"] == pipeline["context"]["span_id"]
    assert step["attributes"]["rillet.cost_usd"] == 0.001
    assert step["attributes"]["gen_ai.usage.output_tokens"] == 2
    assert step["resource"]["attributes"]["service.name"] == "rillet-test"
    assert '"name": "rillet.step.ttft"' in text  # metrics, flushed at exit
    assert '"name": "rillet.cost"' in text


def test_the_service_name_defaults_to_rillet():
    done = run_script({"OTEL_TRACES_EXPORTER": "console"})
    assert done.returncode == 0, done.stderr
    assert '"service.name": "rillet"' in done.stderr


def test_an_application_provider_is_kept():
    setup = "\n    ".join([
        "from opentelemetry import trace",
        "from opentelemetry.sdk.trace import TracerProvider",
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor",
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import "
        "InMemorySpanExporter",
        "mine = InMemorySpanExporter()",
        "provider = TracerProvider()",
        "provider.add_span_processor(SimpleSpanProcessor(mine))",
        "trace.set_tracer_provider(provider)"])
    check = "print(sorted(s.name for s in mine.get_finished_spans()))"
    done = run_script({"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none"},
                      setup, check)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['rillet.pipeline', 'rillet.step']"
    assert "rillet.step" not in done.stderr  # not also sent to the console exporter
    assert "Overriding of current TracerProvider" not in done.stderr


def test_an_otlp_endpoint_sends_spans_over_http():
    received: list[tuple[str, bytes]] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = run_script({"OTEL_EXPORTER_OTLP_ENDPOINT":
                           f"http://127.0.0.1:{server.server_address[1]}"})
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    paths = {path for path, _ in received}
    assert paths == {"/v1/traces", "/v1/metrics"}
    traces = b"".join(body for path, body in received if path == "/v1/traces")
    assert b"rillet.pipeline" in traces and b"rillet.step" in traces
    assert b"claude-haiku-4-5" in traces


def test_enabled_without_an_exporter_says_how_to_configure_one():
    done = run_script({})
    assert done.returncode == 0, done.stderr
    assert "no exporter is configured" in done.stderr
