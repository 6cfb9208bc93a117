"""A reply as Gemini's `streamGenerateContent` streams it: one GenerateContentResponse
dict per delta, each with the running usage, the last one with its finish reason."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

from rillet.sim.anthropic_stream import reply_tokens
from rillet.sim.pacing import content_chunks, delays
from rillet.sim.script import Fault, Reply, ToolCall, tokenize

Item = tuple[float, "dict[str, Any] | Fault"]


def gemini_chunks(reply: Reply, *, model: str, prompt_tokens: int,
                  fault: Fault | None) -> Iterator[Item]:
    """(seconds to wait, chunk) pairs. A mid-stream fault is yielded as `(0.0, fault)`
    after `fault.after_deltas` chunks, or before the last chunk when there are fewer (the
    last chunk, with its finish reason, is what tells a client the reply is whole).
    http_error faults are the transport's to check before streaming."""
    timing = reply.timing.resolved()
    wait = delays(timing)
    model_version = reply.model or model
    response_id = _response_id()
    finish = _finish_reason(reply)
    midstream = fault if fault is not None and fault.kind != "http_error" else None
    fault_at = midstream.after_deltas if midstream is not None else -1

    # Every chunk as (its parts, thought tokens so far, answer tokens so far); the
    # thinking chunks come first, as Gemini sends them.
    parts = list(_parts(reply, timing.chunk_tokens))
    last = len(parts) - 1
    if fault_at > last:
        fault_at = last
    first_delay = timing.first_token_delay_s
    for number, (chunk_parts, thoughts, answer) in enumerate(parts):
        if number == fault_at:
            yield 0.0, midstream
        usage: dict[str, Any] = {"promptTokenCount": prompt_tokens,
                                 "candidatesTokenCount": answer,
                                 "totalTokenCount": prompt_tokens + answer + thoughts}
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        candidate: dict[str, Any] = {"content": {"parts": chunk_parts, "role": "model"},
                                     "index": 0}
        if number == last:
            candidate["finishReason"] = finish
        delay = first_delay if number == 0 else next(wait)
        yield delay, {"candidates": [candidate], "usageMetadata": usage,
                      "modelVersion": model_version, "responseId": response_id}


def gemini_response(reply: Reply, *, model: str, prompt_tokens: int) -> dict[str, Any]:
    """The non-streaming generateContent body: the whole reply in one response."""
    parts: list[dict[str, Any]] = []
    thoughts = answer = 0
    if reply.thinking:
        parts.append({"text": reply.thinking, "thought": True})
        thoughts = len(tokenize(reply.thinking))
    tokens = reply_tokens(reply)
    calls = reply.calls
    if tokens or not calls:
        parts.append({"text": "".join(tokens)})
        answer = len(tokens)
    for call in calls:
        parts.append(_function_call(call))
        answer += len(tokenize(json.dumps(call.input)))
    usage: dict[str, Any] = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": answer,
                             "totalTokenCount": prompt_tokens + answer + thoughts}
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return {"candidates": [{"content": {"parts": parts, "role": "model"},
                            "finishReason": _finish_reason(reply), "index": 0}],
            "usageMetadata": usage, "modelVersion": reply.model or model,
            "responseId": _response_id()}


_STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
             404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
             503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED", 529: "UNAVAILABLE"}


def gemini_error(status: int) -> tuple[int, dict[str, Any]]:
    """(status, body) in Google's error shape."""
    name = _STATUSES.get(status, "UNKNOWN")
    return status, {"error": {"code": status, "message": f"simulated {name} (HTTP {status})",
                              "status": name}}


def _parts(reply: Reply, chunk_tokens: int
           ) -> Iterator[tuple[list[dict[str, Any]], int, int]]:
    thoughts = answer = 0
    if reply.thinking:
        for text, count in _pieces(tokenize(reply.thinking), chunk_tokens):
            thoughts += count
            yield [{"text": text, "thought": True}], thoughts, answer
    tokens = reply_tokens(reply)
    calls = reply.calls
    if tokens or not calls:
        for text, count in _pieces(tokens, chunk_tokens):
            answer += count
            yield [{"text": text}], thoughts, answer
        if not tokens:
            yield [{"text": ""}], thoughts, answer
    if calls:
        # Gemini sends function calls whole, the parallel calls of a turn in one chunk.
        answer += sum(len(tokenize(json.dumps(call.input))) for call in calls)
        yield [_function_call(call) for call in calls], thoughts, answer


def _pieces(tokens: list[str], chunk_tokens: int) -> Iterator[tuple[str, int]]:
    """(text, token count) per chunk."""
    if chunk_tokens == 1:
        for text in tokens:
            yield text, 1
        return
    for start in range(0, len(tokens), chunk_tokens):
        piece = tokens[start:start + chunk_tokens]
        yield "".join(piece), len(piece)


def _function_call(call: ToolCall) -> dict[str, Any]:
    # Gemini 3 signs each function call; a client must send the signature back with the
    # model's turn (`unsigned_function_call` checks that it did).
    signature = base64.b64encode(f"sim-signature:{call.name}".encode()).decode()
    return {"functionCall": {"name": call.name, "args": call.input},
            "thoughtSignature": signature}


def unsigned_function_call(body: dict[str, Any]) -> str | None:
    """What Gemini says of a request whose model turns hold a function call sent back
    without its thought signature (the model's turn was rebuilt, not sent as it came)."""
    for number, content in enumerate(body.get("contents") or ()):
        if not isinstance(content, dict) or content.get("role") != "model":
            continue
        for position, part in enumerate(content.get("parts") or ()):
            if isinstance(part, dict) and "functionCall" in part \
                    and not part.get("thoughtSignature"):
                name = (part["functionCall"] or {}).get("name")
                return (f"Function call is missing a thought_signature in functionCall parts "
                        f"(contents[{number}], function '{name}', position {position}); "
                        f"send the model's turn back as it came")
    return None


def _finish_reason(reply: Reply) -> str:
    return "MAX_TOKENS" if reply.stop_reason == "max_tokens" else "STOP"


def _response_id() -> str:
    return "sim-" + uuid.uuid4().hex[:20]
