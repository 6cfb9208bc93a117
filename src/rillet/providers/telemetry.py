"""OpenTelemetry spans and metrics for runs and steps: off unless enabled.

A wrapper around any provider's stream, not a copy of a provider. When enabled, a run is
one "rillet.pipeline" span and each model step a "rillet.step" span under it, with the
OpenTelemetry GenAI attribute names (gen_ai.system, gen_ai.request.model,
gen_ai.usage.input_tokens, ...) plus rillet's own (cost, time to first token, deltas).
Metrics: a TTFT histogram, an output tokens/s histogram, a cost counter and a token counter.

The SDK is configured once, lazily, from the standard settings: OTEL_TRACES_EXPORTER /
OTEL_METRICS_EXPORTER (console, otlp, none), else OTLP over HTTP when
OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; OTEL_SERVICE_NAME
(default "rillet") and OTEL_RESOURCE_ATTRIBUTES. A tracer or meter provider the application
has already installed is used as it is, never replaced.

Per token, traced_stream counts deltas in an int and reads the clock once, for the first
one; everything OpenTelemetry does happens when the step starts and when it ends. Nothing
from OpenTelemetry is imported until telemetry is used.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from rillet.events import (
    Event, MessageComplete, ResponseComplete, StreamRetry, TextDelta, ThinkingDelta, Usage,
)
from rillet.providers.base import ModelRequest

log = logging.getLogger("rillet.telemetry")

_TRUTHY = frozenset({"1", "true", "yes"})
# gen_ai.system values of the OpenTelemetry GenAI semantic conventions, by provider kind.
_GEN_AI_SYSTEM = {"claude_agent": "anthropic", "anthropic_api": "anthropic",
                  "gemini": "gcp.gemini"}
_TTFT_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 30.0,
                   60.0)
_TOKENS_PER_S_BUCKETS = (1, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 5000)


def telemetry_enabled(flag: bool | None) -> bool:
    """The explicit flag (workflow `telemetry:` / --telemetry) when given, else
    RILLET_TELEMETRY in (1, true, yes); off otherwise."""
    if flag is not None:
        return bool(flag)
    return os.environ.get("RILLET_TELEMETRY", "").strip().lower() in _TRUTHY


# --- configuration -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Instruments:
    tracer: Any
    ttft: Any  # histogram, seconds
    tokens_per_second: Any  # histogram, output tokens / s
    cost: Any  # counter, USD
    tokens: Any  # counter, tokens by gen_ai.token.type


_instruments: _Instruments | None = None
_lock = threading.Lock()


def use_providers(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Send rillet's spans and metrics to these providers instead of the global ones
    (for an application that keeps its own, and for tests). None: the global one."""
    global _instruments
    from opentelemetry import metrics, trace

    with _lock:
        _instruments = _make_instruments(tracer_provider or trace.get_tracer_provider(),
                                         meter_provider or metrics.get_meter_provider())


def reset() -> None:
    """Forget the instruments (tests); the next use configures again."""
    global _instruments
    with _lock:
        _instruments = None


def _get() -> _Instruments:
    found = _instruments
    if found is not None:
        return found
    return _configure()


def _configure() -> _Instruments:
    global _instruments
    from opentelemetry import metrics, trace

    with _lock:
        if _instruments is None:
            _install_global_providers()
            _instruments = _make_instruments(trace.get_tracer_provider(),
                                             metrics.get_meter_provider())
        return _instruments


def _make_instruments(tracer_provider: Any, meter_provider: Any) -> _Instruments:
    from rillet import __version__

    meter = meter_provider.get_meter("rillet", __version__)
    return _Instruments(
        tracer=tracer_provider.get_tracer("rillet", __version__),
        ttft=meter.create_histogram(
            "rillet.step.ttft", unit="s",
            description="Time from the start of a step's stream to its first token",
            explicit_bucket_boundaries_advisory=_TTFT_BUCKETS_S),
        tokens_per_second=meter.create_histogram(
            "rillet.step.output_tokens_per_second", unit="{token}/s",
            description="Output tokens over the time from the first token to the end",
            explicit_bucket_boundaries_advisory=_TOKENS_PER_S_BUCKETS),
        cost=meter.create_counter("rillet.cost", unit="USD",
                                  description="Cost of model steps"),
        tokens=meter.create_counter("rillet.tokens", unit="{token}",
                                    description="Tokens used by model steps, by "
                                                "gen_ai.token.type (input, output)"),
    )


def _install_global_providers() -> None:
    """Install SDK providers with the exporters the OTEL_* settings ask for, unless the
    application already installed its own."""
    from opentelemetry import metrics, trace

    span_exporters = _exporters("traces")
    metric_exporters = _exporters("metrics")
    if not span_exporters and not metric_exporters:
        log.warning("telemetry is on but no exporter is configured: set "
                    "OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_TRACES_EXPORTER=console")
    resource = _resource()
    if span_exporters and isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        provider = TracerProvider(resource=resource)
        for name, exporter in span_exporters:
            # The console shows each span as it ends; OTLP batches in the background.
            processor = SimpleSpanProcessor if name == "console" else BatchSpanProcessor
            provider.add_span_processor(processor(exporter))
        trace.set_tracer_provider(provider)
    if metric_exporters and _is_default_meter_provider(metrics.get_meter_provider()):
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        readers = [PeriodicExportingMetricReader(exporter) for _, exporter in metric_exporters]
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))


def _is_default_meter_provider(provider: Any) -> bool:
    # The API's stand-in until someone installs a provider; its class is private.
    return type(provider).__name__ == "_ProxyMeterProvider"


def _exporter_names(signal: str) -> list[str]:
    """Exporter names for 'traces' or 'metrics' from the standard settings."""
    setting = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip()
    if not setting and signal == "metrics":  # follow the traces choice
        setting = os.environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if setting:
        return [n for n in (p.strip().lower() for p in setting.split(",")) if n and n != "none"]
    if (os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
            or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        return ["otlp"]
    return []


def _exporters(signal: str) -> list[tuple[str, Any]]:
    made = []
    for name in _exporter_names(signal):
        if name == "console":
            made.append((name, _console_exporter(signal)))
        elif name == "otlp":
            made.append((name, _otlp_exporter(signal)))
        else:
            log.warning("OTEL_%s_EXPORTER=%s is not supported by rillet; use otlp (HTTP) "
                        "or console", signal.upper(), name)
    return made


def _console_exporter(signal: str) -> Any:
    # stderr, not stdout: stdout carries the model's text, which may be piped.
    if signal == "traces":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

    return ConsoleMetricExporter(out=sys.stderr)


def _otlp_exporter(signal: str) -> Any:
    protocol = (os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
    if protocol != "http/protobuf":
        log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s: rillet exports OTLP over HTTP "
                    "(http/protobuf) only; point the endpoint at the collector's HTTP port "
                    "(usually 4318)", protocol)
    # The exporters read their endpoint, headers, timeout and compression from OTEL_*.
    if signal == "traces":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter()


def _resource() -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    resource = Resource.create()  # OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "rillet"}))
    return resource


# --- spans ---------------------------------------------------------------------------------


@contextmanager
def pipeline_span(workflow_name: str, run_id: str) -> Iterator[Any]:
    """The run's span; step spans started inside it become its children. An exception
    marks it failed; cancellation marks it cancelled."""
    tracer = _get().tracer
    with tracer.start_as_current_span(
            "rillet.pipeline",
            attributes={"rillet.workflow": workflow_name, "rillet.run_id": run_id}) as span:
        try:
            yield span
        except (asyncio.CancelledError, KeyboardInterrupt):
            # BaseExceptions: the SDK would leave the span's status unset.
            _mark_cancelled(span)
            raise


async def traced_stream(source: AsyncIterator[Event], request: ModelRequest,
                        kind: str) -> AsyncIterator[Event]:
    """Pass `source` through inside a "rillet.step" span (a child of the current span,
    the pipeline's), and record the step's metrics when it ends. Closing this generator
    closes `source`."""
    tools = _get()
    system = _GEN_AI_SYSTEM.get(kind, kind)
    attributes: dict[str, Any] = {
        "rillet.step": request.step, "rillet.provider": kind, "rillet.mode": request.mode,
        "gen_ai.operation.name": "chat", "gen_ai.system": system,
        "gen_ai.provider.name": system,  # the newer conventions' name for gen_ai.system
    }
    if request.model:
        attributes["gen_ai.request.model"] = request.model
    span = tools.tracer.start_span("rillet.step", attributes=attributes)
    clock = perf_counter
    started = clock()
    first_token_at: float | None = None
    deltas = 0
    retries = 0
    usage: Usage | None = None
    final: ResponseComplete | None = None
    model: str | None = None
    error: BaseException | None = None
    event: Any
    try:
        async with aclosing(source) as events:  # type: ignore[type-var]
            async for event in events:
                etype = type(event)
                if etype is TextDelta or etype is ThinkingDelta:
                    deltas += 1
                    if first_token_at is None:
                        first_token_at = clock()
                elif etype is Usage:
                    usage = event
                elif etype is ResponseComplete:
                    final = event
                elif etype is MessageComplete:
                    model = event.model or model
                elif etype is StreamRetry:
                    retries += 1
                yield event
    except BaseException as exc:
        error = exc
        raise
    finally:
        outcome = _StepOutcome(started, first_token_at, clock(), deltas, retries, usage, final,
                               model, error)
        try:
            _finish_step(span, tools, attributes, outcome)
        except Exception:  # noqa: BLE001 - telemetry must never fail the step itself
            log.warning("could not record telemetry for step %r", request.step, exc_info=True)


@dataclass(slots=True)
class _StepOutcome:
    started: float
    first_token_at: float | None
    ended: float
    deltas: int
    retries: int
    usage: Usage | None
    final: ResponseComplete | None
    model: str | None
    error: BaseException | None

    def tokens(self) -> tuple[int, int, int, int]:
        """input, output, cache read, cache write: the final figures."""
        usage, final = self.usage, self.final
        cache = (usage.cache_read_tokens, usage.cache_write_tokens) if usage else (0, 0)
        if final is not None and (final.input_tokens or final.output_tokens):
            return final.input_tokens, final.output_tokens, *cache
        if usage is not None:
            return usage.input_tokens, usage.output_tokens, *cache
        return 0, 0, 0, 0

    def cost_usd(self) -> float | None:
        if self.final is not None and self.final.cost_usd is not None:
            return self.final.cost_usd
        return self.usage.cost_usd if self.usage is not None else None


def _finish_step(span: Any, tools: _Instruments, attributes: dict[str, Any],
                 out: _StepOutcome) -> None:
    """Once per step: the span's final attributes and status, then the metrics."""
    try:
        input_tokens, output_tokens, cache_read, cache_write = out.tokens()
        model = (out.final.model if out.final is not None else None) or out.model
        cost = out.cost_usd()
        values: dict[str, Any] = {
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            "rillet.deltas": out.deltas,
            "rillet.retries": out.retries,
            "rillet.duration_s": out.ended - out.started,
        }
        if cache_read or cache_write:
            values["rillet.usage.cache_read_tokens"] = cache_read
            values["rillet.usage.cache_write_tokens"] = cache_write
        if model:
            values["gen_ai.response.model"] = model
        if out.final is not None and out.final.stop_reason:
            values["gen_ai.response.finish_reasons"] = (out.final.stop_reason,)
        if out.final is not None and out.final.session_id:
            values["rillet.session_id"] = out.final.session_id
        ttft = tokens_per_second = None
        if out.first_token_at is not None:
            ttft = out.first_token_at - out.started
            values["rillet.ttft_s"] = ttft
            generating = out.ended - out.first_token_at
            if output_tokens and generating > 0:
                tokens_per_second = output_tokens / generating
                values["rillet.output_tokens_per_s"] = tokens_per_second
        if cost is not None:
            values["rillet.cost_usd"] = cost
        estimate = _table_price(attributes.get("gen_ai.request.model"), input_tokens,
                                output_tokens, cache_read, cache_write)
        if estimate is None:  # e.g. a CLI alias such as "sonnet": price the model it used
            estimate = _table_price(model, input_tokens, output_tokens, cache_read,
                                    cache_write)
        if estimate is not None:
            # Reconciliation: the price table's figure for the same tokens. It differs from
            # rillet.cost_usd when the provider reported its own total (the Claude CLI).
            values["rillet.cost_estimate_usd"] = estimate
            if cost is not None:
                values["rillet.cost_estimate_error_usd"] = estimate - cost
        span.set_attributes(values)
        failure = _set_status(span, out)
        _record_metrics(tools, attributes, model, out, ttft, tokens_per_second, cost,
                        input_tokens, output_tokens, failure)
    finally:
        span.end()


def _set_status(span: Any, out: _StepOutcome) -> str | None:
    """Mark a failed, incomplete or cancelled step; returns its error.type (None: ok)."""
    from opentelemetry.trace import Status, StatusCode

    error, final = out.error, out.final
    if error is not None and final is None and isinstance(
            error, (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt)):
        _mark_cancelled(span)
        return "cancelled"
    if error is not None and not isinstance(error, (GeneratorExit, asyncio.CancelledError)):
        kind = getattr(error, "kind", None) or type(error).__qualname__
        span.record_exception(error)
        span.set_attributes({"error.type": kind})
        span.set_status(Status(StatusCode.ERROR, str(error) or type(error).__qualname__))
        return kind
    if final is None:
        span.set_attributes({"error.type": "incomplete"})
        span.set_status(Status(StatusCode.ERROR, "the stream ended without a final result"))
        return "incomplete"
    if final.is_error:
        span.set_attributes({"error.type": "provider_error"})
        span.set_status(Status(StatusCode.ERROR, final.error or "the provider reported an error"))
        return "provider_error"
    return None


def _mark_cancelled(span: Any) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attributes({"rillet.cancelled": True, "error.type": "cancelled"})
    span.set_status(Status(StatusCode.ERROR, "cancelled"))


def _record_metrics(tools: _Instruments, attributes: dict[str, Any], model: str | None,
                    out: _StepOutcome, ttft: float | None, tokens_per_second: float | None,
                    cost: float | None, input_tokens: int, output_tokens: int,
                    failure: str | None) -> None:
    labels: dict[str, Any] = {
        "rillet.step": attributes["rillet.step"], "rillet.provider": attributes["rillet.provider"],
        "gen_ai.system": attributes["gen_ai.system"],
    }
    requested = attributes.get("gen_ai.request.model") or model
    if requested:
        labels["gen_ai.request.model"] = requested
    if failure is not None:
        labels["error.type"] = failure
    if ttft is not None:
        tools.ttft.record(ttft, labels)
    if tokens_per_second is not None:
        tools.tokens_per_second.record(tokens_per_second, labels)
    if cost:  # a counter takes no negative amounts; zero adds nothing
        tools.cost.add(cost, labels)
    if input_tokens:
        tools.tokens.add(input_tokens, {**labels, "gen_ai.token.type": "input"})
    if output_tokens:
        tools.tokens.add(output_tokens, {**labels, "gen_ai.token.type": "output"})


def _table_price(model: str | None, input_tokens: int, output_tokens: int, cache_read: int,
                 cache_write: int) -> float | None:
    if not model or not (input_tokens or output_tokens):
        return None
    try:
        from rillet.providers.pricing import price_usd

        return price_usd(model, input_tokens, output_tokens, cache_read, cache_write)
    except Exception:  # noqa: BLE001 - a broken price table must not break the step's span
        log.debug("no price-table estimate for %r", model, exc_info=True)
        return None
