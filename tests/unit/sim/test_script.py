"""The script engine: tokens, timing presets, rule matching, default text, fault counting,
and the errors a bad script file gives."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from rillet.errors import WorkflowError
from rillet.sim.pacing import content_chunks, delays
from rillet.sim.script import (
    Fault, Reply, Script, Timing, count_tokens, default_text, tokenize, validate_reply)

# --- tokens -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "", "Hello, world!", "  leading and trailing  ", "line one\nline two\n\n",
    "naïve café — déjà vu…", "x=1; y = [2, 3]", "\t\ttabs\tand   spaces",
    '{"command": "ls -la"}',
])
def test_tokens_join_back_into_the_text(text):
    assert "".join(tokenize(text)) == text


def test_a_token_is_a_word_with_its_leading_space_or_a_punctuation_mark():
    assert tokenize("Hi there, world!") == ["Hi", " there", ",", " world", "!"]
    assert count_tokens("Hi there, world!") == 5
    assert count_tokens("") == 0
    assert count_tokens("end  ") == 2  # trailing whitespace is a token of its own


# --- timing -------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "first", "rate", "jitter", "chunk", "interval"), [
    ("fast", 0.0, math.inf, 0.0, 1, 0.0),
    ("slow", 0.5, 20.0, 0.0, 1, 0.05),
    ("chunked", 0.1, 400.0, 0.0, 8, 0.02),
    ("realistic", 0.25, 80.0, 0.3, 1, 0.0125),
])
def test_each_timing_pattern_resolves_to_its_preset(pattern, first, rate, jitter, chunk,
                                                    interval):
    resolved = Timing(pattern=pattern).resolved()
    assert (resolved.first_token_delay_s, resolved.tokens_per_second, resolved.jitter,
            resolved.chunk_tokens) == (first, rate, jitter, chunk)
    assert resolved.interval_s == pytest.approx(interval)


def test_timing_overrides_win_over_the_preset():
    resolved = Timing(pattern="slow", tokens_per_second=100, chunk_tokens=4, jitter=0.5,
                      first_token_delay_s=0.0, seed=7).resolved()
    assert resolved.interval_s == pytest.approx(0.04)
    assert (resolved.first_token_delay_s, resolved.jitter, resolved.seed) == (0.0, 0.5, 7)


def test_fast_timing_never_waits():
    assert set(itertools.islice(delays(Timing(pattern="fast").resolved()), 1000)) == {0.0}


def test_jitter_is_deterministic_for_a_seed_and_stays_within_its_bounds():
    def sample(seed):
        return list(itertools.islice(delays(Timing(seed=seed).resolved()), 200))

    first, again, other = sample(42), sample(42), sample(43)
    assert first == again
    assert first != other
    # realistic: 12.5 ms ± 30 %
    assert all(0.00875 <= d <= 0.01625 for d in first)
    assert max(first) - min(first) > 0.004  # it really varies


def test_chunks_group_tokens():
    assert content_chunks(["a", " b", " c", "."], 3) == ["a b c", "."]
    tokens = ["x", " y"]
    assert content_chunks(tokens, 1) is tokens  # no copy on the common path


# --- rules --------------------------------------------------------------------------------


def script(*rules, **extra):
    return Script.from_dict({"rules": list(rules), **extra})


def test_the_first_matching_rule_wins_and_matching_ignores_case():
    s = script({"match": "review", "text": "first"}, {"match": "REVIEW|code", "text": "second"},
               {"match": "", "text": "catch-all"})
    assert s.reply_for("Please Review this").text == "first"
    assert s.reply_for("some code").text == "second"
    assert s.reply_for("anything else").text == "catch-all"


def test_no_matching_rule_gives_the_default_text_for_the_prompt():
    reply = script({"match": "^never$", "text": "no"}).reply_for("Explain database indexes")
    assert reply.text == default_text("Explain database indexes")
    assert reply.fault is None and reply.tool_use is None


def test_script_timing_applies_to_rules_without_their_own():
    s = script({"match": "own", "text": "a", "timing": {"pattern": "slow"}},
               {"match": "", "text": "b"}, timing={"pattern": "fast"})
    assert s.reply_for("own timing").timing.pattern == "slow"
    assert s.reply_for("other").timing.pattern == "fast"
    assert script(timing={"pattern": "chunked"}).reply_for("x").timing.pattern == "chunked"


def test_the_jitter_seed_comes_from_the_prompt_unless_set():
    s = script({"match": "seeded", "text": "a", "timing": {"seed": 5}}, {"match": "", "text": "b"})
    assert s.reply_for("seeded").timing.seed == 5
    one, same, other = s.reply_for("p1"), s.reply_for("p1"), s.reply_for("p2")
    assert one.timing.seed == same.timing.seed != other.timing.seed


def test_reply_for_does_not_change_the_rule():
    s = script({"match": "", "timing": {"pattern": "fast"}})
    s.reply_for("first prompt")
    assert s.rules[0].text is None and s.rules[0].timing.seed is None


def test_an_invalid_regex_is_rejected():
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        script({"match": "(unclosed", "text": "x"})


# --- default text -------------------------------------------------------------------------


def test_default_text_is_deterministic_and_mentions_the_prompt():
    prompt = "Compare PostgreSQL replication with logical decoding"
    text = default_text(prompt)
    assert text == default_text(prompt)
    assert text != default_text("Describe the migration of birds")
    assert "postgresql" in text.lower() and "replication" in text.lower()


@pytest.mark.parametrize("prompt", ["", "hi", "Write a haiku about autumn leaves",
                                    "Review this code: def f(x): return x / len(x)",
                                    "a " * 500])
def test_default_text_is_60_to_120_words_of_sentences(prompt):
    text = default_text(prompt)
    assert 60 <= len(text.split()) <= 120
    assert text[0].isupper() and text.endswith((".", "!", "?"))
    assert text.count(".") >= 4  # several sentences, not one run-on


def test_default_text_varies_its_sentences_between_prompts():
    openings = {default_text(f"tell me about topic {n}").split(".")[0].split()[0]
                for n in range(40)}
    assert len(openings) >= 3


# --- faults -------------------------------------------------------------------------------


def test_an_http_error_fires_times_times_then_the_rule_succeeds():
    s = script({"match": "flaky", "fault": {"kind": "http_error", "status": 529, "times": 2}},
               {"match": "", "text": "fine"})
    fired = [s.take_fault(s.reply_for("flaky call")) for _ in range(4)]
    assert [f.status if f else None for f in fired] == [529, 529, None, None]


def test_http_error_counts_are_per_rule_and_per_script():
    rules = ({"match": "one", "fault": {"kind": "http_error", "status": 429}},
             {"match": "two", "fault": {"kind": "http_error", "status": 500}})
    s = script(*rules)
    assert s.take_fault(s.reply_for("one")).status == 429
    assert s.take_fault(s.reply_for("two")).status == 500  # its own counter
    assert s.take_fault(s.reply_for("one")) is None
    fresh = script(*rules)
    assert fresh.take_fault(fresh.reply_for("one")).status == 429


def test_the_counter_follows_copies_of_a_reply():
    s = script({"match": "", "fault": {"kind": "http_error"}})
    reply = s.reply_for("x")
    assert s.take_fault(reply.model_copy(update={"text": ""})) is not None
    assert s.take_fault(reply) is None


def test_mid_stream_faults_fire_on_every_request():
    s = script({"match": "", "fault": {"kind": "drop", "after_deltas": 3}})
    assert [s.take_fault(s.reply_for("x")).kind for _ in range(3)] == ["drop"] * 3


def test_a_mid_stream_fault_with_explicit_times_lets_a_retry_through():
    s = script({"match": "", "fault": {"kind": "drop", "times": 1}})
    assert [bool(s.take_fault(s.reply_for("x"))) for _ in range(3)] == [True, False, False]


def test_a_reply_without_a_fault_takes_none():
    s = script({"match": "", "text": "ok"})
    assert s.take_fault(s.reply_for("x")) is None


# --- validation and loading ---------------------------------------------------------------


def test_validate_reply_accepts_a_mapping_or_a_bare_text():
    assert validate_reply({"text": "hi", "timing": {"pattern": "fast"}}).timing.pattern == "fast"
    assert validate_reply("just this").text == "just this"
    with pytest.raises(ValidationError, match="txt"):
        validate_reply({"txt": "typo"})


def test_fault_values_are_checked():
    with pytest.raises(ValidationError):
        Fault(kind="explode")
    with pytest.raises(ValidationError):
        Reply(fault={"kind": "http_error", "times": 0})
    with pytest.raises(ValidationError):
        Timing(jitter=1.5)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "script.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_reads_rules_in_order(tmp_path):
    loaded = Script.load(write(tmp_path, "timing: {pattern: fast}\nrules:\n"
                                         "  - match: a\n    text: A\n  - match: ''\n"))
    assert [r.match for r in loaded.rules] == ["a", ""]
    assert loaded.timing.pattern == "fast"


def test_load_error_names_the_file_line_and_key_of_an_unknown_option(tmp_path):
    path = write(tmp_path, "rules:\n  - match: a\n    text: A\n  - match: b\n"
                           "    timing:\n      patern: slow\n")
    with pytest.raises(WorkflowError) as info:
        Script.load(path)
    assert info.value.problems == [f"{path}:6: rules.1.timing.patern: unknown key"]


def test_load_error_names_the_key_of_a_bad_value(tmp_path):
    path = write(tmp_path, "rules:\n  - match: a\n    fault: {kind: melt}\n")
    with pytest.raises(WorkflowError) as info:
        Script.load(path)
    [problem] = info.value.problems
    assert problem.startswith(f"{path}:3: rules.0.fault.kind: ")
    assert "http_error" in problem  # says what is allowed


def test_load_error_for_broken_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "rules:\n  - match: a\n   text: [unclosed\n")
    with pytest.raises(WorkflowError, match=rf"{path}:\d+: not valid YAML"):
        Script.load(path)


def test_load_error_for_a_missing_file_names_it(tmp_path):
    with pytest.raises(WorkflowError, match="nope.yaml: cannot read the script"):
        Script.load(tmp_path / "nope.yaml")


def test_the_built_in_script_loads_and_covers_the_showcase_prompts():
    s = Script.default()
    assert "readable" in s.reply_for("Review this function").text
    assert s.reply_for("Summarise the article").text.startswith("Summary:")
    assert "four steps" in s.reply_for("Make a plan for the launch").text
    thinking = s.reply_for("Think about this puzzle")
    assert thinking.thinking and thinking.text
    assert s.reply_for("Tell me about owls").text == default_text("Tell me about owls")


@pytest.mark.parametrize("prompt", [
    "Shorten this: The river carved the valley over thousands of years, and the town grew "
    "along its banks. Later a bridge joined the two halves of the town.",
    "Summarise the draft in two sentences: 1. The retry case is asserted, not shown. "
    "2. The measuring part lacks numbers, so readers cannot check the latency claims.",
    "Shorten this: one two three four five six seven eight nine ten",
])
def test_asked_to_shorten_a_text_the_simulator_answers_shorter_than_it(prompt):
    body = prompt.partition(":")[2]
    text = default_text(prompt)
    assert len(text) < len(body.strip()) * 0.8
    assert text[0].isupper() and text.endswith(".")
    assert set(text.lower().rstrip(".").replace(",", "").split()) <= set(
        body.lower().replace(".", " ").replace(",", " ").split())  # its words, not new ones


def test_generic_replies_take_nouns_of_the_prompt_as_topics_not_verb_forms():
    text = default_text("Review the critique: the retry case is asserted and never shown")
    for word in ("asserted", "review", "shown"):
        assert f" {word} " not in f" {text.lower()} "
    assert "critique" in text.lower()
