"""PartialJSON: the object a JSON reply describes, as far as it has arrived."""

from __future__ import annotations

import json
import random

import jiter
import pytest

from rillet.structured.partial import PartialJSON

DOC = {
    "severity": "high",
    "summary": 'Line one\nwith "quotes", a tab\there, é and an emoji \U0001F600',
    "score": -12.5e3, "ok": True, "nothing": None, "count": 42,
    "findings": [{"id": i, "title": f"finding {i}", "tags": ["a", "b\\c"], "meta": {}, "refs": []}
                 for i in range(4)],
    "numbers": [1, 2.5, -3],
}


def chunks(text: str, seed: int, largest: int = 9) -> list[str]:
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(text):
        size = rng.randint(1, largest)
        out.append(text[pos:pos + size])
        pos += size
    return out


# Chunks of up to 9 characters are deltas; up to 120, the deltas of a burst fed together,
# whose complete containers are read whole by the json module's scanner.
@pytest.mark.parametrize("largest", [9, 120])
@pytest.mark.parametrize("ascii_only", [True, False])
def test_partial_object_matches_a_full_partial_parse_at_every_delta(ascii_only, largest):
    text = json.dumps(DOC, indent=2, ensure_ascii=ascii_only)
    for seed in range(60):
        parser, seen = PartialJSON(), ""
        for piece in chunks(text, seed, largest):
            parser.feed(piece)
            seen += piece
            mid_escape_or_atom = seen.rstrip()[-1:] not in '"{}[],:' and not parser.done
            if mid_escape_or_atom:
                continue  # a number or escape still arriving shows only once complete
            expected = jiter.from_json(seen.encode(), partial_mode="trailing-strings")
            assert parser.value == expected, (seed, seen[-40:])
        assert parser.done and parser.value == DOC


def test_text_around_the_json_is_skipped_and_its_span_recorded():
    body = json.dumps(DOC)
    text = f"Here is the verdict:\n```json\n{body}\n```\nThat is all. {{not json}}"
    parser = PartialJSON()
    for piece in chunks(text, 3):
        parser.feed(piece)
    assert parser.done
    assert parser.value == DOC
    assert text[parser.start:parser.end] == body


def test_strings_show_as_far_as_they_have_arrived():
    parser = PartialJSON()
    assert parser.feed('{"summary": "The chan') is True
    assert parser.value == {"summary": "The chan"}
    assert parser.feed("ge is small") is True
    assert parser.value == {"summary": "The change is small"}
    parser.feed('", "sev')  # a key still arriving adds nothing yet
    assert parser.value == {"summary": "The change is small"}
    parser.feed('erity": 1')  # a number shows once it is complete
    assert parser.value == {"summary": "The change is small"}
    parser.feed("0}")
    assert parser.value == {"summary": "The change is small", "severity": 10}
    assert parser.done


def test_the_value_is_one_object_growing_in_place():
    parser = PartialJSON()
    parser.feed('{"items": [1, ')
    first = parser.value
    parser.feed('2, {"a": "b"}]}')
    assert parser.value is first
    assert first == {"items": [1, 2, {"a": "b"}]}


def test_escapes_split_across_deltas_decode_once_whole():
    text = json.dumps({"s": "a\"b\\c\u00e9\U0001F600\n"}, ensure_ascii=True)
    parser = PartialJSON()
    for char in text:  # one character per delta
        parser.feed(char)
    assert parser.value == {"s": "a\"b\\c\u00e9\U0001F600\n"}


def test_nothing_before_the_first_brace_is_an_object():
    parser = PartialJSON()
    assert parser.feed("I think the answer is ") is False
    assert parser.value is None and not parser.started


def test_a_whole_reply_in_one_chunk_is_read_at_once_with_its_span():
    body = json.dumps(DOC)
    parser = PartialJSON()
    assert parser.feed(f"Sure: {body} done") is True
    assert parser.done and parser.value == DOC
    assert parser.start == 6 and parser.end == 6 + len(body)


@pytest.mark.parametrize("text", [  # with raw control characters in strings
    '{"a": [1, 2,], "b": {"c": "line\nbreak", "d": [true]}, "e": "x"}',  # a trailing comma
    '{"a": {"b": "raw\tcontrol"}, "c": [{"d": 1}, {"e": tru}]}',  # a literal cut short
])
def test_containers_that_are_not_strict_json_read_as_leniently_in_one_chunk(text):
    by_char = PartialJSON()
    for char in text:
        by_char.feed(char)
    whole = PartialJSON()
    whole.feed(text)
    assert whole.done and by_char.done
    assert whole.value == by_char.value
    if text.startswith('{"a": [1, 2,]'):
        assert whole.value == {"a": [1, 2], "b": {"c": "line\nbreak", "d": [True]}, "e": "x"}


def test_nesting_too_deep_for_the_c_scanner_is_still_read():
    text = '{"a": ' + "[" * 5000 + "]" * 5000 + ', "b": 1}'
    parser = PartialJSON()
    assert parser.feed(text) is True
    assert parser.done and parser.value["b"] == 1
