"""Gemini's streamGenerateContent chunks, as the simulator sends them."""

from __future__ import annotations

import base64

import pytest

from rillet.sim.gemini_stream import (
    gemini_chunks, gemini_error, gemini_response, unsigned_function_call,
)
from rillet.sim.script import Fault, Reply, Timing, ToolCall

FAST = Timing(pattern="fast")


def SIGNED(name: str) -> str:  # noqa: N802 - reads as a constant in the expected parts
    return base64.b64encode(f"sim-signature:{name}".encode()).decode()


def chunks(reply, fault=None):
    return list(gemini_chunks(reply, model="gemini-sim", prompt_tokens=4, fault=fault))


def test_each_chunk_carries_one_delta_and_the_running_usage():
    items = chunks(Reply(text="Hi there, world!", timing=FAST))
    bodies = [body for _, body in items]
    assert [b["candidates"][0]["content"] for b in bodies] == [
        {"parts": [{"text": t}], "role": "model"} for t in ["Hi", " there", ",", " world", "!"]]
    assert [b["usageMetadata"] for b in bodies] == [
        {"promptTokenCount": 4, "candidatesTokenCount": n, "totalTokenCount": 4 + n}
        for n in range(1, 6)]
    assert ["finishReason" in b["candidates"][0] for b in bodies] == [False] * 4 + [True]
    assert bodies[-1]["candidates"][0]["finishReason"] == "STOP"
    assert {b["modelVersion"] for b in bodies} == {"gemini-sim"}
    assert len({b["responseId"] for b in bodies}) == 1


def test_thoughts_come_first_marked_as_thought_and_counted_apart():
    bodies = [b for _, b in chunks(Reply(thinking="Hmm, ok.", text="Yes.", timing=FAST))]
    parts = [b["candidates"][0]["content"]["parts"][0] for b in bodies]
    assert parts == [{"text": "Hmm", "thought": True}, {"text": ",", "thought": True},
                     {"text": " ok", "thought": True}, {"text": ".", "thought": True},
                     {"text": "Yes"}, {"text": "."}]
    last = bodies[-1]["usageMetadata"]
    assert last == {"promptTokenCount": 4, "candidatesTokenCount": 2, "thoughtsTokenCount": 4,
                    "totalTokenCount": 10}


def test_a_function_call_arrives_whole_in_one_chunk():
    bodies = [b for _, b in chunks(Reply(text="", tool_use=ToolCall(name="lookup",
                                                                    input={"q": "x"}),
                                         timing=FAST))]
    assert len(bodies) == 1
    assert bodies[0]["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "lookup", "args": {"q": "x"}},
         "thoughtSignature": SIGNED("lookup")}]


def test_parallel_function_calls_arrive_together_in_one_chunk():
    calls = [ToolCall(name="w", input={"city": "Paris"}),
             ToolCall(name="w", input={"city": "Oslo"})]
    reply = Reply(text="", function_calls=calls, timing=FAST)
    bodies = [b for _, b in chunks(reply)]
    assert len(bodies) == 1
    assert bodies[0]["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "w", "args": {"city": "Paris"}}, "thoughtSignature": SIGNED("w")},
        {"functionCall": {"name": "w", "args": {"city": "Oslo"}}, "thoughtSignature": SIGNED("w")}]
    whole = gemini_response(reply, model="gemini-sim", prompt_tokens=4)
    assert whole["candidates"][0]["content"]["parts"] == bodies[0]["candidates"][0][
        "content"]["parts"]
    assert whole["usageMetadata"] == bodies[0]["usageMetadata"]


def test_a_function_call_sent_back_without_its_signature_is_named():
    signed = {"functionCall": {"name": "w", "args": {}}, "thoughtSignature": SIGNED("w")}
    turns = [{"role": "user", "parts": [{"text": "go"}]}, {"role": "model", "parts": [signed]},
             {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {}}}]}]
    assert unsigned_function_call({"contents": turns}) is None
    turns[1] = {"role": "model", "parts": [{"text": ""}, {"functionCall": {"name": "w"}}]}
    assert unsigned_function_call({"contents": turns}) == (
        "Function call is missing a thought_signature in functionCall parts (contents[1], "
        "function 'w', position 1); send the model's turn back as it came")


def test_max_tokens_stop_reason_maps_to_gemini_finish_reason():
    bodies = [b for _, b in chunks(Reply(text="cut", stop_reason="max_tokens", timing=FAST))]
    assert bodies[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_a_mid_stream_fault_comes_after_its_chunks():
    fault = Fault(kind="drop", after_deltas=2)
    kinds = ["fault" if type(b) is Fault else "chunk"
             for _, b in chunks(Reply(text="a b c d", timing=FAST), fault)]
    assert kinds == ["chunk", "chunk", "fault", "chunk", "chunk"]


def test_a_late_fault_still_comes_before_the_final_chunk():
    kinds = ["fault" if type(b) is Fault else "chunk"
             for _, b in chunks(Reply(text="a b", timing=FAST), Fault(kind="drop",
                                                                       after_deltas=9))]
    assert kinds == ["chunk", "fault", "chunk"]


def test_first_token_delay_then_paced_chunks():
    delays = [d for d, _ in chunks(Reply(text="a b c", timing=Timing(pattern="slow")))]
    assert delays == [0.5, 0.05, 0.05]


def test_the_whole_response_matches_the_stream_totals():
    reply = Reply(thinking="Hmm.", text="Hi there.", timing=FAST)
    body = gemini_response(reply, model="gemini-sim", prompt_tokens=4)
    assert body["candidates"][0]["content"]["parts"] == [
        {"text": "Hmm.", "thought": True}, {"text": "Hi there."}]
    assert body["usageMetadata"] == chunks(reply)[-1][1]["usageMetadata"]


@pytest.mark.parametrize(("status", "name"), [(429, "RESOURCE_EXHAUSTED"), (503, "UNAVAILABLE"),
                                              (400, "INVALID_ARGUMENT"), (500, "INTERNAL")])
def test_errors_have_googles_shape(status, name):
    got, body = gemini_error(status)
    assert got == status
    assert body["error"]["code"] == status and body["error"]["status"] == name
