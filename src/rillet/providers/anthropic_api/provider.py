"""The Anthropic Messages API provider: the `anthropic` SDK, streaming raw events.

The request goes out through the SDK (`messages.create(stream=True)`, which is what
`messages.stream()` sends too), so authentication, headers and the SDK's retries of a
failed request (429, 529, 5xx, connection errors: `SDK_MAX_RETRIES`) are the SDK's. The
response is read as raw server-sent events and each event's JSON goes straight to the
shared `AnthropicEventTranslator`: `messages.stream()` would also build a pydantic model
per event and re-concatenate the whole text on every delta (quadratic in the reply's
length), which the step's AsyncResponse already does once.

A connection that breaks mid-stream is retried here (`STREAM_RETRIES`), with a
`StreamRetry` first so the step's text is not doubled. The attempt loop
(`translated_attempts`) knows nothing of HTTP: the mock provider runs the simulator's
events through the very same loop, translator and error mapping.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from rillet.errors import ProviderError, StreamIncompleteError
from rillet.events import Event, MessageComplete, ResponseComplete, StreamRetry, TextDelta
from rillet.providers.anthropic_api.events import AnthropicEventTranslator
from rillet.providers.attempts import (
    STREAM_RETRIES, HTTPProvider, StreamDropped, failed_stream, retried_attempts,
)
from rillet.providers.base import ModelRequest, refuse_unknown_options

DEFAULT_MODEL = "claude-sonnet-5-5"
DEFAULT_MAX_TOKENS = 4096
# The SDK retries a failed request (408, 409, 429, 5xx, 529, connection errors) this many
# times, honouring retry-after, before the first event; then its error reaches us.
SDK_MAX_RETRIES = 2
SIM_API_KEY = "sim"

OPTION_KEYS = frozenset({"max_tokens", "temperature", "top_p", "top_k", "stop_sequences",
                         "thinking", "system_prompt"})
# anthropic 1.0 removed these from the method signatures; the API still takes them on the
# models that support sampling, so they go in the body, and only when set.
_SAMPLING_KEYS = ("temperature", "top_p", "top_k")


OpenAttempt = Callable[[int], AsyncIterator[dict[str, Any]]]


async def translated_attempts(request: ModelRequest, open_attempt: OpenAttempt, *,
                              retries: int = STREAM_RETRIES, delay_s: float = 0.0
                              ) -> AsyncIterator[Event]:
    """Raw Messages API events from `open_attempt(n)` (n = 0, 1, ...) as rillet events,
    ending with one ResponseComplete. `open_attempt` raises StreamDropped when its
    connection breaks; that attempt is then voided (StreamRetry) and the next one opened,
    `retries` times at most. Closing this generator closes the open attempt."""
    step = request.step
    translator = AnthropicEventTranslator(step)
    translate = translator.translate
    completed = False
    attempts = retried_attempts(open_attempt, translator.restart, api="the Anthropic API",
                                step=step, retries=retries, delay_s=delay_s)
    async with aclosing(attempts):
        async for item in attempts:
            if type(item) is StreamRetry:
                yield item
                continue
            event = translate(item)
            if type(event) is TextDelta:  # the per-token path
                yield event
            elif event is not None:
                if type(event) is MessageComplete:
                    completed = True
                yield event
    if not completed:
        raise StreamIncompleteError(
            f"the Anthropic API stream for step '{step}' ended without its final "
            f"message_stop event: the answer may be cut short, so it is not taken as complete")
    yield ResponseComplete(step, model=translator.model, stop_reason=translator.stop_reason,
                           input_tokens=translator.input_tokens,
                           output_tokens=translator.output_tokens)


# --- request ------------------------------------------------------------------------------


def request_params(request: ModelRequest) -> dict[str, Any]:
    """The keyword arguments of `messages.create` for `request` (stream excluded)."""
    refuse_unknown_options(request, OPTION_KEYS, "Anthropic Messages API")
    options = request.options
    params: dict[str, Any] = {
        "model": request.model or DEFAULT_MODEL,
        "max_tokens": int(options.get("max_tokens") or DEFAULT_MAX_TOKENS),
        "messages": [{"role": "user", "content": request.prompt}],
    }
    system = request.system_prompt or options.get("system_prompt")
    if system:
        params["system"] = system
    stops = options.get("stop_sequences")
    if stops:
        params["stop_sequences"] = [stops] if isinstance(stops, str) else list(stops)
    thinking = thinking_param(request.step, options.get("thinking"))
    if thinking is not None:
        params["thinking"] = thinking
    sampling = {key: options[key] for key in _SAMPLING_KEYS if options.get(key) is not None}
    if sampling:
        params["extra_body"] = sampling
    if request.output_schema is not None:  # structured outputs
        params["output_config"] = {"format": {"type": "json_schema",
                                              "schema": request.output_schema.json_schema}}
    return params


def api_params(params: dict[str, Any]) -> dict[str, Any]:
    """`params` with the schema as structured outputs take it: the SDK's own transform
    (closed objects, no keywords the API refuses). Imports the SDK."""
    fmt = (params.get("output_config") or {}).get("format")
    if fmt is None:
        return params
    from anthropic import transform_schema

    schema = transform_schema(fmt["schema"])
    return {**params, "output_config": {"format": {**fmt, "schema": schema}}}


def thinking_param(step: str, value: Any) -> dict[str, Any] | None:
    """`thinking:` as the API wants it: a dict as given, a number as a token budget,
    true as adaptive thinking, false as disabled."""
    if value is None:
        return None
    if isinstance(value, bool):
        return {"type": "adaptive"} if value else {"type": "disabled"}
    if isinstance(value, int):
        return {"type": "enabled", "budget_tokens": value}
    if isinstance(value, dict) and "type" in value:
        return dict(value)
    raise ProviderError(f"step '{step}': thinking must be true/false, a token budget, or "
                        f"a mapping with a type (got {value!r})", kind="invalid_request")


def prompt_tokens(request: ModelRequest) -> int:
    """The input tokens the simulator counts for this request (system + prompt)."""
    from rillet.sim.script import count_tokens

    system = request.system_prompt or request.options.get("system_prompt") or ""
    return count_tokens(system) + count_tokens(request.prompt)


# --- errors -------------------------------------------------------------------------------


def status_error(step: str, status: int, detail: str) -> ProviderError:
    """A failed request (after the SDK's retries) as a ProviderError that says what to do."""
    where = f"for step '{step}'"
    if status in (401, 403):
        return ProviderError(f"the Anthropic API rejected the credentials {where} (HTTP "
                             f"{status}: {detail}); set ANTHROPIC_API_KEY to a valid key",
                             kind="auth", status=status)
    if status == 429:
        return ProviderError(f"rate limited by the Anthropic API {where} after the SDK's "
                             f"{SDK_MAX_RETRIES} retries (HTTP 429: {detail}); wait and try "
                             f"again", kind="rate_limit", status=status, retryable=True)
    if status == 529:
        return ProviderError(f"the Anthropic API is overloaded {where} after the SDK's "
                             f"{SDK_MAX_RETRIES} retries (HTTP 529: {detail}); try again later",
                             kind="overloaded", status=status, retryable=True)
    if status in (400, 404, 413, 422):
        return ProviderError(f"the Anthropic API rejected the request {where} (HTTP {status}: "
                             f"{detail}); check the step's model and options",
                             kind="invalid_request", status=status)
    return ProviderError(f"the Anthropic API failed {where} (HTTP {status}: {detail})",
                         kind="api", status=status, retryable=status >= 500)


def malformed_error(step: str, detail: str) -> ProviderError:
    return ProviderError(f"the Anthropic API sent an event that is not valid JSON for step "
                         f"'{step}' ({detail}); the stream cannot be trusted past it",
                         kind="malformed")


def _detail(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return fallback


# --- the provider -------------------------------------------------------------------------


class AnthropicAPIProvider(HTTPProvider):
    name = "anthropic_api"

    def stream(self, request: ModelRequest) -> AsyncIterator[Event]:
        try:
            params = request_params(request)  # a bad option fails before any request
        except ProviderError as exc:
            return failed_stream(exc)
        step = request.step

        def open_attempt(attempt: int) -> AsyncIterator[dict[str, Any]]:
            return self._raw_events(step, params, request)

        return translated_attempts(request, open_attempt, retries=self.stream_retries,
                                   delay_s=self.retry_delay_s)

    CLIENT_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")

    @staticmethod
    async def _close_client(client: Any) -> None:
        await client.close()

    # -- HTTP ----------------------------------------------------------------------------

    def _new_client(self, base_url: str | None, *, step: str | None) -> Any:
        import anthropic  # ~1 s to import: only once a step uses this provider

        if self.mode == "sim":
            if not base_url:
                raise ProviderError(f"step '{step}' runs in sim mode but no simulator URL "
                                    f"was given", kind="invalid_request")
            return _ready(anthropic.AsyncAnthropic(base_url=base_url, api_key=SIM_API_KEY,
                                                   max_retries=SDK_MAX_RETRIES))
        # Live: the SDK's own environment (ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN,
        # ANTHROPIC_BASE_URL) decides where requests go and how they authenticate.
        kwargs: dict[str, Any] = {"max_retries": SDK_MAX_RETRIES}
        if base_url:
            kwargs["base_url"] = base_url
        return _ready(anthropic.AsyncAnthropic(**kwargs))

    async def _raw_events(self, step: str, params: dict[str, Any],
                          request: ModelRequest) -> AsyncIterator[dict[str, Any]]:
        # The client first: it may still be made (and the SDK imported) in the background.
        client = await self._client_for(request)
        import anthropic
        import httpx2  # the SDK's HTTP client: mid-stream failures arrive unwrapped

        try:
            stream = await client.messages.create(**api_params(params), stream=True)
        except anthropic.APIStatusError as exc:
            raise status_error(step, exc.status_code, _detail(exc.body, exc.message)) from exc
        except anthropic.APIConnectionError as exc:
            raise ProviderError(
                f"could not reach the Anthropic API at {client.base_url} for step '{step}' "
                f"after the SDK's {SDK_MAX_RETRIES} retries ({exc.__cause__ or exc}); check the "
                f"network or ANTHROPIC_BASE_URL", kind="network", retryable=True) from exc
        except TypeError as exc:  # no API key: the SDK says so when it builds the headers
            raise ProviderError(f"no Anthropic credentials for step '{step}': set "
                                f"ANTHROPIC_API_KEY ({exc})", kind="auth") from exc
        loads = json.loads
        try:
            async for sse in stream.raw_events(stream.response):
                data = sse.data
                if not data:
                    continue
                try:
                    item = loads(data)
                except ValueError as exc:
                    raise malformed_error(step, str(exc)) from None
                yield item
        except httpx2.TransportError as exc:
            raise StreamDropped(f"{type(exc).__name__}: {exc}") from exc
        finally:
            # At once, also when the consumer stops early: the server sees the request end.
            await stream.close()


def _ready(client: Any) -> Any:
    """`client` with its Messages resource loaded: the SDK imports it on first use (~20 ms
    of the first request otherwise), here while the client is made in the background."""
    client.messages  # noqa: B018 - loaded for its side effect
    return client
