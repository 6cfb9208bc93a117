"""A reply as the Anthropic Messages API streams it: raw event dicts with their timing.

The simulator writes these as SSE and the mock provider replays them, so both show exactly
what the real API (and the Claude Code CLI, which relays it) would. This is on the per-token
path: tokens are computed once per reply and each delta is a fresh dict built in place.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from rillet.sim.pacing import content_chunks, delays
from rillet.sim.script import Fault, Reply, count_tokens, default_text, tokenize

Item = tuple[float, "dict[str, Any] | Fault"]


def anthropic_events(reply: Reply, *, model: str, input_tokens: int,
                     fault: Fault | None) -> Iterator[Item]:
    """(seconds to wait before sending, event) pairs for one streamed message.

    A mid-stream fault (drop, stall, malformed) is yielded as `(0.0, fault)` right after
    `fault.after_deltas` content deltas (or, when there are fewer, before the message
    ends); the transport acts on it. http_error faults are the transport's to check before streaming."""
    timing = reply.timing.resolved()
    wait = delays(timing)
    midstream = fault if fault is not None and fault.kind != "http_error" else None
    fault_at = midstream.after_deltas if midstream is not None else -1
    sent = 0  # content deltas so far, to place the fault
    tokens_out = 0
    index = 0

    yield timing.first_token_delay_s, {
        "type": "message_start",
        "message": {
            "id": _id("msg_sim_"), "type": "message", "role": "assistant",
            "model": reply.model or model, "content": [], "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}},
    }

    for kind, tokens in _blocks(reply):
        if kind == "thinking":
            start: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        elif kind == "text":
            start = {"type": "text", "text": ""}
        else:
            start = {"type": "tool_use", "id": _id("toolu_sim_"), "name": kind[1],
                     "input": {}}
        yield 0.0, {"type": "content_block_start", "index": index, "content_block": start}
        if index == 0:
            yield 0.0, {"type": "ping"}  # where the API's documented stream has it

        chunks = content_chunks(tokens, timing.chunk_tokens)
        # Split the block where the fault fires so the delta loops stay free of checks.
        fires_here = 0 <= fault_at - sent <= len(chunks)
        pieces = (chunks[:fault_at - sent], chunks[fault_at - sent:]) if fires_here else (chunks,)
        for number, piece in enumerate(pieces):
            if number == 1:
                yield 0.0, midstream
                fault_at = -1
            if kind == "text":
                for text in piece:
                    yield next(wait), {"type": "content_block_delta", "index": index,
                                       "delta": {"type": "text_delta", "text": text}}
            elif kind == "thinking":
                for text in piece:
                    yield next(wait), {"type": "content_block_delta", "index": index,
                                       "delta": {"type": "thinking_delta", "thinking": text}}
            else:
                for text in piece:
                    yield next(wait), {"type": "content_block_delta", "index": index,
                                       "delta": {"type": "input_json_delta",
                                                 "partial_json": text}}
        sent += len(chunks)
        tokens_out += len(tokens)
        if kind == "thinking":
            yield 0.0, {"type": "content_block_delta", "index": index,
                        "delta": {"type": "signature_delta", "signature": _signature(reply)}}
        yield 0.0, {"type": "content_block_stop", "index": index}
        index += 1

    if fault_at >= 0:  # fewer deltas than after_deltas: fire it before the message ends
        yield 0.0, midstream
    yield 0.0, {"type": "message_delta",
                "delta": {"stop_reason": stop_reason(reply), "stop_sequence": None},
                "usage": {"output_tokens": tokens_out}}
    yield 0.0, {"type": "message_stop"}


def anthropic_message(reply: Reply, *, model: str, input_tokens: int) -> dict[str, Any]:
    """The non-streaming Messages API response body."""
    content: list[dict[str, Any]] = []
    output_tokens = 0
    for kind, tokens in _blocks(reply):
        if kind == "thinking":
            content.append({"type": "thinking", "thinking": "".join(tokens),
                            "signature": _signature(reply)})
        elif kind == "text":
            content.append({"type": "text", "text": "".join(tokens)})
        else:
            content.append({"type": "tool_use", "id": _id("toolu_sim_"), "name": kind[1],
                            "input": reply.tool_use.input if reply.tool_use else {}})
        output_tokens += len(tokens)
    return {
        "id": _id("msg_sim_"), "type": "message", "role": "assistant",
        "model": reply.model or model, "content": content, "stop_reason": stop_reason(reply),
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    }


_ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 529: "overloaded_error",
}


def anthropic_error(status: int) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) as the API answers a failed request. 429 and 529 say
    `retry-after: 0` so an SDK's retries are immediate; the SDKs read a zero as "not
    given" and back off for seconds, so `retry-after-ms: 1` says it in a way they obey."""
    etype = _ERROR_TYPES.get(status, "api_error")
    body = {"type": "error",
            "error": {"type": etype, "message": f"simulated {etype} (HTTP {status})"}}
    headers = {"retry-after": "0", "retry-after-ms": "1"} if status in (429, 529) else {}
    return status, body, headers


def stop_reason(reply: Reply) -> str:
    if reply.tool_use is not None:
        return "tool_use"
    return reply.stop_reason or "end_turn"


def reply_tokens(reply: Reply) -> list[str]:
    """The reply's text as tokens, repeated to `output_tokens` when that is set (bench)."""
    text = reply.text if reply.text is not None else default_text("")
    tokens = tokenize(text)
    wanted = reply.output_tokens
    if wanted is None or not tokens:
        return tokens
    if wanted <= len(tokens):
        return tokens[:wanted]
    # Repeat with a space between copies so the words do not run together.
    again = tokenize(" " + text.lstrip()) if not text[:1].isspace() else tokens
    extra = wanted - len(tokens)
    return tokens + (again * (extra // len(again) + 1))[:extra]


def _blocks(reply: Reply) -> Iterator[tuple[Any, list[str]]]:
    """(kind, tokens) per content block: "thinking", then "text" (left out when empty and
    a tool call follows), then the tool call as kind ("tool_use", name) with the tokens
    of its JSON input."""
    if reply.thinking:
        yield "thinking", tokenize(reply.thinking)
    tokens = reply_tokens(reply)
    if tokens or reply.tool_use is None:
        yield "text", tokens
    if reply.tool_use is not None:
        yield ("tool_use", reply.tool_use.name), tokenize(json.dumps(reply.tool_use.input))


def _signature(reply: Reply) -> str:
    return f"sim-signature-{count_tokens(reply.thinking or '')}"


def _id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def within_output_limit(reply: Reply, limit: int | None) -> Reply:
    """The reply as a model with an output limit (Gemini's maxOutputTokens) gives it: its
    text cut at `limit` tokens, stopping for max_tokens. A tool call is left whole."""
    if not limit or reply.tool_use is not None:
        return reply
    tokens = reply_tokens(reply)
    if len(tokens) <= limit:
        return reply
    return reply.model_copy(update={"text": "".join(tokens[:limit]), "output_tokens": None,
                                    "stop_reason": "max_tokens"})
