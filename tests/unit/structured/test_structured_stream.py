"""structured_stream on its own: PartialOutput pacing, and a stream that ends in error."""

from __future__ import annotations

import json
from pathlib import Path

from rillet.events import MessageComplete, PartialOutput, ResponseComplete, TextDelta
from rillet.providers.base import ModelRequest
from rillet.sim.script import tokenize
from rillet.structured.schema import resolve
from rillet.structured.stream import structured_stream

OBJECT = {"title": "A long review", "findings": [f"finding {i}" for i in range(50)]}


def request() -> ModelRequest:
    return ModelRequest(step="s", prompt="p", output_schema=resolve({"type": "object"},
                                                                    Path(".")))


def events(text: str, final: ResponseComplete | None = None):
    async def stream(_request):
        for piece in tokenize(text):
            yield TextDelta("s", piece)
        yield MessageComplete("s", "end_turn")
        yield final or ResponseComplete("s", output_tokens=3)
    return stream


async def collect(stream) -> list:
    return [event async for event in stream]


async def test_a_burst_of_deltas_shares_partial_objects_and_the_closed_object_is_sent():
    text = json.dumps(OBJECT)
    burst = await collect(structured_stream(events(text), request(), every_s=60.0))
    every = await collect(structured_stream(events(text), request(), every_s=0.0))

    burst_partials = [e for e in burst if type(e) is PartialOutput]
    every_partials = [e for e in every if type(e) is PartialOutput]
    assert len(burst_partials) == 2  # the first change, then the object as it closes
    assert len(every_partials) > 100
    assert burst_partials[-1].value == OBJECT
    # Text deltas are never held back.
    assert [e.text for e in burst if type(e) is TextDelta] == tokenize(text)
    assert burst[-1].output == OBJECT


async def test_an_error_result_passes_through_without_validation():
    final = ResponseComplete("s", is_error=True, error="overloaded")
    out = await collect(structured_stream(events("not json at all", final), request()))
    assert out[-1] is final


async def test_in_a_burst_the_closed_object_follows_the_delta_that_closes_it():
    body = json.dumps(OBJECT)
    text = f"Here it is:\n```json\n{body}\n```\nThat is all."
    out = await collect(structured_stream(events(text), request(), every_s=60.0))

    closed = [i for i, e in enumerate(out) if type(e) is PartialOutput][-1]
    before = "".join(e.text for e in out[:closed] if type(e) is TextDelta)
    assert out[closed].value == OBJECT
    assert before.endswith("}") and body in before  # the delta holding the last brace
    after = "".join(e.text for e in out[closed:] if type(e) is TextDelta)
    assert after == "\n```\nThat is all."
    assert out[-1].output == OBJECT
