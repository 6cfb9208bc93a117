"""A structured step's stream: PartialOutput as the JSON grows, the object checked at the end.

It wraps the provider's stream for a step with `output_schema`. Every TextDelta passes on
at once and, when it changed the object, a PartialOutput follows it with the object so far
(`PartialJSON`, which reads each character once; at most one every `PARTIAL_EVERY_S`, and
always one when the object closes). The parser reads only when a PartialOutput may go (or a
brace may close the object), so the deltas of a burst are parsed together, in C for the
containers they complete. At the end the object (the provider's
own, else the reply's JSON text) is validated. On a mismatch the model is asked once more,
with the errors: a `StreamRetry(whole=True)` first voids the text of the first answer, so
the step's text is never doubled, and the token and cost totals go on adding up. A second
mismatch fails the step; its raw text stays on the failure.
"""

from __future__ import annotations

import dataclasses
import json
from time import perf_counter
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from rillet.events import Event, PartialOutput, ResponseComplete, StreamRetry, TextDelta, Usage
from rillet.providers.base import ModelRequest
from rillet.providers.totals import NOTHING, plus, with_spent
from rillet.structured.partial import PartialJSON
from rillet.structured.schema import OutputSchemaError

REPAIR_ATTEMPTS = 1
# A PartialOutput at most this often (and always when the object closes): at a model's
# pace (10-20 ms a token) every delta that changes the object gets one; deltas that arrive
# in a burst share one, so a burst costs the parser and no more events than a screen needs.
PARTIAL_EVERY_S = 0.005
_ERRORS_SHOWN = 8

OpenStream = Callable[[ModelRequest], AsyncIterator[Event]]


async def structured_stream(open_stream: OpenStream, request: ModelRequest, *,
                            every_s: float = PARTIAL_EVERY_S) -> AsyncIterator[Event]:
    schema = request.output_schema
    clock = perf_counter
    step = request.step
    spent = NOTHING  # tokens in, tokens out and cost of the answers before this one
    attempt_request = request
    for attempt in range(REPAIR_ATTEMPTS + 1):
        parser = PartialJSON()
        feed = parser.feed
        pieces: list[str] = []
        fed = 0  # pieces[:fed] are in the parser
        final: ResponseComplete | None = None
        due = 0.0  # when the next PartialOutput may go
        changed = False  # the object changed since the last PartialOutput
        async with aclosing(open_stream(attempt_request)) as events:
            async for event in events:
                kind = type(event)
                if kind is TextDelta:
                    yield event
                    piece = event.text
                    pieces.append(piece)
                    now = clock()
                    # The parser reads only when a PartialOutput may go, or when the
                    # object may close (only a } or ] closes it): the deltas of a burst
                    # are parsed together, far cheaper than one by one.
                    if now >= due or "}" in piece or "]" in piece:
                        count = len(pieces)
                        changed = feed(piece if count - fed == 1 else
                                       "".join(pieces[fed:])) or changed
                        fed = count
                        if changed and (now >= due or parser.done):
                            due, changed = now + every_s, False
                            yield PartialOutput(step, parser.value)
                    continue
                if kind is StreamRetry:
                    parser, pieces, fed = PartialJSON(), [], 0  # the answer comes again
                    feed = parser.feed
                elif kind is Usage:
                    event = with_spent(event, spent)
                elif kind is ResponseComplete:
                    final = event
                    continue
                yield event
        if final is None or final.is_error:
            if final is not None:
                yield with_spent(final, spent)
            return
        text = "".join(pieces)
        feed("".join(pieces[fed:]))  # what came after the parser's last look
        value, errors = _checked(final, parser, text, schema)
        if not errors:
            done = dataclasses.replace(final, output=value)
            yield with_spent(done, spent)
            return
        if attempt == REPAIR_ATTEMPTS:
            listed = "; ".join(errors[:_ERRORS_SHOWN])
            raise OutputSchemaError(
                f"the reply does not fit output_schema ({schema.source}) after "
                f"{REPAIR_ATTEMPTS} repair attempt: {listed}; its raw text is kept")
        spent = plus(spent, final)
        yield StreamRetry(step, attempt + 1, "the reply did not fit output_schema: "
                          + "; ".join(errors[:_ERRORS_SHOWN]), whole=True)
        attempt_request = dataclasses.replace(
            request, prompt=repair_prompt(request.prompt, text, errors))


def repair_prompt(prompt: str, answer: str, errors: list[str]) -> str:
    listed = "\n".join(f"- {error}" for error in errors[:_ERRORS_SHOWN])
    return (f"{prompt}\n\nYour previous answer was:\n{answer}\n\nIt does not fit the "
            f"required JSON schema:\n{listed}\n\nAnswer again with a corrected object that "
            f"fits the schema.")


def _checked(final: ResponseComplete, parser: PartialJSON, text: str, schema: Any
             ) -> tuple[Any, list[str]]:
    """(the object, what is wrong with it)."""
    if final.output is not None:
        value = final.output
    elif not parser.done:
        return None, ["the reply is not a complete JSON object"
                      if parser.started else "the reply holds no JSON object"]
    else:
        try:
            value = json.loads(text[parser.start:parser.end])
        except ValueError as exc:
            return None, [f"the reply is not valid JSON ({exc})"]
    return value, schema.errors(value)
