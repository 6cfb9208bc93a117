"""The Gemini provider: google-genai's `generate_content_stream`, chunk by chunk.

Each chunk the SDK yields goes through `GeminiChunkTranslator` (thoughts, text, function
calls, running usage, finish reason); `calls.gemini_events` runs the functions the model
calls that have an implementation and sends their responses in the next request. The SDK
retries a failed request itself (`SDK_ATTEMPTS` attempts for 408/429/5xx/529 and
connection errors; google-genai does not retry at all unless told to); a stream broken
mid-way is sent again here (`STREAM_RETRIES`), with a StreamRetry first so the text is not
doubled.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from rillet.errors import ProviderError
from rillet.events import Event
from rillet.providers.attempts import (  # STREAM_RETRIES: part of this module's face
    STREAM_RETRIES, HTTPProvider, StreamDropped, failed_stream,  # noqa: F401
)
from rillet.providers.base import ModelRequest, refuse_unknown_options
from rillet.providers.gemini.calls import Outcome, gemini_events
from rillet.providers.gemini.events import RETRY_STATUSES, malformed_error, status_error

DEFAULT_MODEL = "gemini-3.5-flash"
SDK_ATTEMPTS = 3  # the first request and two retries
# Waits between the SDK's attempts: exponential from this, with jitter (live). The
# simulator answers `retry-after: 0`, which the SDK cannot read, so sim mode barely waits.
RETRY_INITIAL_DELAY_S = 1.0
SIM_RETRY_DELAY_S = 0.01
SIM_API_KEY = "sim"
API_VERSION = "v1beta"

OPTION_KEYS = frozenset({"max_output_tokens", "temperature", "top_p", "top_k",
                         "thinking_budget", "max_input_tokens"})


def config_params(request: ModelRequest) -> dict[str, Any]:
    """The GenerateContentConfig fields for `request` (thinking as a plain dict)."""
    refuse_unknown_options(request, OPTION_KEYS, "Gemini", takes="token_budget takes")
    options = request.options
    config: dict[str, Any] = {key: options[key] for key in
                              ("max_output_tokens", "temperature", "top_p", "top_k")
                              if options.get(key) is not None}
    if request.system_prompt:
        config["system_instruction"] = request.system_prompt
    if request.functions:
        # Declared functions: the model's calls stream as ToolUse; rillet runs those with
        # an implementation itself (calls.gemini_events), so the SDK must run none.
        config["tools"] = [{"function_declarations": [
            {"name": f["name"], "description": f.get("description") or "",
             "parameters_json_schema": f["parameters"]} for f in request.functions]}]
        config["automatic_function_calling"] = {"disable": True}
    if request.output_schema is not None:
        # Gemini's structured output: JSON text that follows the schema.
        config["response_mime_type"] = "application/json"
        config["response_json_schema"] = request.output_schema.json_schema
    budget = options.get("thinking_budget")
    if budget is not None:
        # Thoughts are only sent back when asked for; a zero budget turns thinking off.
        config["thinking_config"] = {"thinking_budget": int(budget),
                                     "include_thoughts": int(budget) != 0}
    return config


def prompt_tokens(request: ModelRequest) -> int:
    """The prompt tokens the simulator counts for this request (system + prompt)."""
    from rillet.sim.script import count_tokens

    return count_tokens(request.system_prompt or "") + count_tokens(request.prompt)


def over_input_limit(request: ModelRequest, tokens: int, counted_by: str
                     ) -> ProviderError | None:
    """`token_budget.max_input_tokens`: the error for a prompt longer than the limit (it
    is never sent), or None."""
    limit = request.options.get("max_input_tokens")
    if limit is None or tokens <= int(limit):
        return None
    return ProviderError(
        f"step '{request.step}': the prompt is {tokens} tokens ({counted_by}), over "
        f"token_budget.max_input_tokens ({limit}), so it was not sent; shorten the prompt "
        f"or raise the limit", kind="invalid_request")


def count_contents(request: ModelRequest) -> list[str]:
    """What countTokens is asked to count: the system instruction (which the Gemini API's
    countTokens does not take as such) and the prompt, as parts of one message."""
    return [request.system_prompt, request.prompt] if request.system_prompt \
        else [request.prompt]


class GeminiProvider(HTTPProvider):
    name = "gemini"

    def stream(self, request: ModelRequest) -> AsyncIterator[Event]:
        try:
            config = config_params(request)  # a bad option fails before any request
        except ProviderError as exc:
            return failed_stream(exc)
        model = request.model or DEFAULT_MODEL

        def open_request(contents: list[Any], attempt: int) -> AsyncIterator[Any]:
            return self._chunks(request, model, config, contents)

        return gemini_events(request, open_request, SDKConversation(),
                             retries=self.stream_retries, delay_s=self.retry_delay_s)

    CLIENT_ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL",
                  "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION")

    @staticmethod
    async def _close_client(client: Any) -> None:
        await client.aio.aclose()  # its aiohttp session: every connection
        client.close()  # the sync side, never used for requests

    # -- HTTP ----------------------------------------------------------------------------

    def _new_client(self, base_url: str | None, *, step: str | None) -> Any:
        from google import genai  # ~0.5 s to import: only once a step uses Gemini
        from google.genai import types

        sim = self.mode == "sim"
        if not sim:
            base_url = base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL") or None
        elif not base_url:
            raise ProviderError(f"step '{step}' runs in sim mode but no simulator URL was "
                                f"given", kind="invalid_request")
        delay = SIM_RETRY_DELAY_S if sim else RETRY_INITIAL_DELAY_S
        retry = types.HttpRetryOptions(
            attempts=SDK_ATTEMPTS, initial_delay=delay, max_delay=delay if sim else None,
            jitter=0.0 if sim else None, http_status_codes=list(RETRY_STATUSES))
        # Given a base URL the SDK would switch to /v1; thinking and system instructions
        # are v1beta features, which is also what the SDK uses by default.
        options = types.HttpOptions(base_url=base_url, api_version=API_VERSION,
                                    retry_options=retry)
        kwargs: dict[str, Any] = {"http_options": options}
        if sim:
            # Never the user's key or a Vertex AI setting from the environment.
            kwargs.update(api_key=SIM_API_KEY, vertexai=False)
        try:
            client = genai.Client(**kwargs)
        except ValueError as exc:  # no key in the environment
            where = f" for step '{step}'" if step else ""
            raise ProviderError(f"no Gemini credentials{where}: set GEMINI_API_KEY or "
                                f"GOOGLE_API_KEY ({exc})", kind="auth") from exc
        client.aio.models  # noqa: B018 - loaded now (in the background), not by the first request
        return client

    async def _chunks(self, request: ModelRequest, model: str, config: dict[str, Any],
                      contents: list[Any]) -> AsyncIterator[Any]:
        step = request.step
        # The client first: it may still be made (and the SDK imported) in the background.
        client = await self._client_for(request)
        import aiohttp  # google-genai's async transport
        from google.genai import errors

        if request.options.get("max_input_tokens") is not None and len(contents) == 1:
            await self._check_input_limit(client, request, model)  # the prompt, once
        # The SDK sends the request (and retries it) when the first chunk is asked for.
        stream = await client.aio.models.generate_content_stream(
            model=model, contents=contents, config=config or None)
        started = False
        try:
            async for chunk in stream:
                started = True
                yield chunk
        except GeneratorExit:  # the consumer stopped reading mid-stream
            await _unwind(stream)
            raise
        except errors.APIError as exc:  # a failed request, or an error in place of a chunk
            raise status_error(step, exc.code, exc.status, exc.message or str(exc),
                               1 if started else SDK_ATTEMPTS) from exc
        except aiohttp.ClientConnectorError as exc:
            raise ProviderError(
                f"could not reach the Gemini API for step '{step}' after {SDK_ATTEMPTS} "
                f"attempts ({exc}); check the network or GOOGLE_GEMINI_BASE_URL",
                kind="network", retryable=True) from exc
        except aiohttp.ClientError as exc:
            raise StreamDropped(f"{type(exc).__name__}: {exc}") from exc
        except ValueError as exc:  # a chunk that is not JSON
            raise malformed_error(step, str(exc)) from None
        finally:
            await stream.aclose()

    @staticmethod
    async def _check_input_limit(client: Any, request: ModelRequest, model: str) -> None:
        from google.genai import errors

        try:
            counted = await client.aio.models.count_tokens(
                model=model, contents=count_contents(request))
        except errors.APIError as exc:
            raise status_error(request.step, exc.code, exc.status,
                               f"countTokens (for max_input_tokens): {exc.message or exc}",
                               SDK_ATTEMPTS) from exc
        error = over_input_limit(request, int(counted.total_tokens or 0),
                                 "counted by Gemini's countTokens")
        if error is not None:
            raise error


class SDKConversation:
    """The turns of a step's conversation as google-genai's objects. The model's turn is
    sent back with its parts as they came: Gemini wants its thought signatures again."""

    def opening(self, prompt: str) -> list[Any]:
        from google.genai import types

        return [types.Content(role="user", parts=[types.Part(text=prompt)])]

    def model_turn(self, parts: list[Any]) -> Any:
        from google.genai import types

        return types.Content(role="model", parts=parts)

    def response_turn(self, outcomes: list[Outcome]) -> Any:
        from google.genai import types

        return types.Content(role="user", parts=[types.Part(
            function_response=types.FunctionResponse(
                id=outcome.call_id, name=outcome.call.name, response=outcome.response))
            for outcome in outcomes])


async def _unwind(stream: Any) -> None:
    """End the SDK's stream from the inside, closing its HTTP response now.

    google-genai's stream is a chain of async generators; the innermost one holds the
    response. Closing the outermost (what `aclose()` does) leaves the inner ones
    suspended and the connection open (measured: the server was still streaming 2 s
    later, garbage collection or not). Asking for the next chunk and cancelling that
    request while it waits on the network unwinds the whole chain, and each generator's
    clean-up closes the response.
    """
    for _ in range(_UNWIND_MAX_CHUNKS):
        pending = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)  # let it run to its first wait
        if not pending.done():
            pending.cancel()
        try:
            await pending
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we are being cancelled ourselves: that goes on
            return  # the chain has unwound
        except BaseException:  # noqa: BLE001 - ended or failed: the chain has unwound too
            return
        # A chunk was already buffered: it is dropped; ask again.


_UNWIND_MAX_CHUNKS = 10_000
