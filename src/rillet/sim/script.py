"""What the simulator (and the mock provider) answer: rules matched against the prompt.

A `Script` is a list of `Rule`s; the first rule whose regex is found in the prompt gives the
`Reply` (text, thinking, a tool call, timing, a fault). A reply without text gets a
deterministic default text built from the prompt, so every run of the same workflow streams
the same words at the same pace. `tokenize` defines what a "token" is for every usage
figure the simulator and the mock report.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator,
)

from rillet.errors import WorkflowError
from rillet.workflow.problems import line_of

DEFAULT_SCRIPT = Path(__file__).parent / "scripts" / "default.yaml"

# --- tokens -------------------------------------------------------------------------------

# A word with the whitespace before it, a punctuation mark (with its whitespace), or
# whitespace left at the very end. Every character falls in one of these, so the pieces
# always join back into the text.
_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")


def tokenize(text: str) -> list[str]:
    """Word-ish pieces of `text`; `"".join(tokenize(text)) == text` always."""
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


# --- timing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolvedTiming:
    """Concrete numbers for one reply. `interval_s` is the pause between deltas before
    jitter; 0 means the stream never sleeps."""

    first_token_delay_s: float
    tokens_per_second: float
    jitter: float
    chunk_tokens: int
    seed: int

    @property
    def interval_s(self) -> float:
        if math.isinf(self.tokens_per_second):
            return 0.0
        return self.chunk_tokens / self.tokens_per_second


_PRESETS: dict[str, dict[str, float]] = {
    "fast": {"first_token_delay_s": 0.0, "tokens_per_second": math.inf, "jitter": 0.0,
             "chunk_tokens": 1},
    "slow": {"first_token_delay_s": 0.5, "tokens_per_second": 20.0, "jitter": 0.0,
             "chunk_tokens": 1},
    "chunked": {"first_token_delay_s": 0.1, "tokens_per_second": 400.0, "jitter": 0.0,
                "chunk_tokens": 8},
    "realistic": {"first_token_delay_s": 0.25, "tokens_per_second": 80.0, "jitter": 0.3,
                  "chunk_tokens": 1},
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Timing(_Model):
    pattern: Literal["fast", "slow", "chunked", "realistic"] = "realistic"
    first_token_delay_s: float | None = Field(default=None, ge=0)
    tokens_per_second: float | None = Field(default=None, gt=0)
    jitter: float | None = Field(default=None, ge=0, le=1)
    chunk_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None

    def resolved(self) -> ResolvedTiming:
        preset = _PRESETS[self.pattern]
        return ResolvedTiming(
            first_token_delay_s=_pick(self.first_token_delay_s, preset["first_token_delay_s"]),
            tokens_per_second=_pick(self.tokens_per_second, preset["tokens_per_second"]),
            jitter=_pick(self.jitter, preset["jitter"]),
            chunk_tokens=int(_pick(self.chunk_tokens, preset["chunk_tokens"])),
            seed=self.seed if self.seed is not None else 0,
        )


def _pick(value: float | None, default: float) -> float:
    return default if value is None else value


# --- replies ------------------------------------------------------------------------------


class Fault(_Model):
    kind: Literal["http_error", "drop", "stall", "malformed"]
    status: int = Field(default=529, ge=400, le=599)
    after_deltas: int = Field(default=0, ge=0)
    # How many matching requests fail before one succeeds. Mid-stream faults fire on
    # every matching request unless `times` is given (a drop that a retry gets past).
    times: int = Field(default=1, ge=1)
    seconds: float = Field(default=30.0, ge=0)


class ToolCall(_Model):
    name: str
    input: dict[str, Any] = {}


class Reply(_Model):
    text: str | None = None
    thinking: str | None = None
    tool_use: ToolCall | None = None
    # Gemini only: the function calls of one turn, in order (several are parallel calls),
    # and how many turns make them before the text comes (each after the client sent
    # the previous turn's functionResponse parts back).
    function_calls: list[ToolCall] | None = Field(default=None, min_length=1)
    function_rounds: int = Field(default=1, ge=1)
    model: str | None = None
    stop_reason: str | None = None
    timing: Timing = Timing()
    fault: Fault | None = None
    output_tokens: int | None = Field(default=None, ge=1)
    # For a request with a schema (output_schema): the object to answer with, fitting the
    # schema or not; without it one is generated from the schema.
    output: dict[str, Any] | None = None

    # Which fault counter this reply uses (set by Script.reply_for, kept by model_copy).
    _fault_key: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_kind_of_call(self) -> Reply:
        if self.tool_use is not None and self.function_calls is not None:
            raise ValueError("give tool_use (one call) or function_calls (Gemini: one or "
                             "more), not both")
        return self

    @property
    def calls(self) -> list[ToolCall]:
        """The calls of a calling turn: function_calls, else tool_use, else none."""
        if self.function_calls is not None:
            return self.function_calls
        return [self.tool_use] if self.tool_use is not None else []

    def for_prompt(self, prompt: str) -> Reply:
        """This reply with its default text and its jitter seed filled in from `prompt`.
        Idempotent: an already resolved reply comes back unchanged."""
        update: dict[str, Any] = {}
        if self.text is None:
            update["text"] = default_text(prompt)
        if self.timing.seed is None:
            update["timing"] = self.timing.model_copy(update={"seed": prompt_seed(prompt)})
        return self.model_copy(update=update) if update else self


class Rule(Reply):
    match: str

    _pattern: re.Pattern[str] = PrivateAttr()

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    def model_post_init(self, context: Any) -> None:
        self._pattern = re.compile(self.match, re.IGNORECASE)

    def matches(self, prompt: str) -> bool:
        return self._pattern.search(prompt) is not None


def validate_reply(data: dict[str, Any] | str) -> Reply:
    """A step's `mock:` value as a Reply; a bare string is the reply text."""
    if isinstance(data, str):
        return Reply(text=data)
    return Reply.model_validate(data)


# --- scripts ------------------------------------------------------------------------------

_REPLY_FIELDS = frozenset(Reply.model_fields)


class Script(_Model):
    timing: Timing | None = None
    rules: list[Rule] = []

    _fault_counts: dict[Any, int] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def reply_for(self, prompt: str) -> Reply:
        """The first matching rule's reply (else the default), resolved for `prompt`."""
        for index, rule in enumerate(self.rules):
            if rule.matches(prompt):
                fields = {name: getattr(rule, name) for name in _REPLY_FIELDS}
                given = rule.model_fields_set & _REPLY_FIELDS
                if "timing" not in given and self.timing is not None:
                    fields["timing"] = self.timing
                    given = given | {"timing"}
                # Already validated as the rule: build the Reply without validating again.
                reply = Reply.model_construct(given, **fields)
                reply._fault_key = index
                return reply.for_prompt(prompt)
        return Reply(timing=self.timing or Timing()).for_prompt(prompt)

    def take_fault(self, reply: Reply) -> Fault | None:
        """The reply's fault if it fires for this request. An http_error (or a mid-stream
        fault with an explicit `times`) fires `times` times per rule (per Script), then
        the rule's requests succeed; other mid-stream faults fire every time."""
        fault = reply.fault
        if fault is None or (fault.kind != "http_error" and "times" not in fault.model_fields_set):
            return fault
        key = reply._fault_key if reply._fault_key is not None else id(fault)
        with self._lock:
            fired = self._fault_counts.get(key, 0)
            if fired >= fault.times:
                return None
            self._fault_counts[key] = fired + 1
        return fault

    @classmethod
    def default(cls) -> Script:
        """The built-in script (`rillet sim` and the showcase), with fresh fault counters."""
        return cls.load(DEFAULT_SCRIPT)

    @classmethod
    def from_dict(cls, data: Any) -> Script:
        return cls.model_validate(data)

    @classmethod
    def load(cls, path: str | Path) -> Script:
        """Read a script YAML; any problem is a WorkflowError naming file, line and key."""
        path = Path(path)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            problem = f"{path}: cannot read the script: {exc.strerror or exc}"
            raise WorkflowError([problem]) from None
        try:
            root = yaml.compose(source)
            data = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            problem = f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"
            raise WorkflowError([problem]) from None
        if data is None:
            data = {}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise WorkflowError([_describe(path, root, error) for error in exc.errors()]) from None


def _describe(path: Path, root: yaml.Node | None, error: Any) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(part) for part in loc) or "(top level)"
    line = line_of(root, loc)
    where = f"{path}:{line}" if line else str(path)
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{where}: {key}: {message}"


# --- default text -------------------------------------------------------------------------


def prompt_seed(prompt: str) -> int:
    """A stable (cross-process) number from the prompt: Python's hash() is salted."""
    return int.from_bytes(hashlib.blake2b(prompt.encode("utf-8"), digest_size=8).digest(), "big")


_STOPWORDS = frozenset("""
a about above after again all also an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had
has have having he her here hers him his how i if in into is it its itself just let me more
most my no nor not now of off on once only or other our out over own please same she should
so some such than that the their them then there these they this those through to too under
until up very was we were what when where which while who whom why will with would you your
write give tell make show explain describe using use summarise summarize list create draft
compare analyse analyze translate rewrite generate provide following short brief words
sentence sentences paragraph answer reply say something anything thing things
shorten condense review improve polish plan check fix read take taking into account two
three four five one its
""".split())

_OPENINGS = (
    "Here is a short answer about {a}.",
    "Good question about {a}; here is how I would approach it.",
    "Let me walk through the main points on {a}.",
    "Looking at {a} and {b}, a few things stand out.",
)
_MIDDLES = (
    "The key point is that decisions about {a} depend on {b}, so it helps to look at both "
    "together.",
    "A good first step is to check how {b} is handled today and where it causes friction.",
    "In practice, work on {a} goes best when the scope is small and the goal is written down.",
    "One risk worth naming is that problems around {b} tend to show up late.",
    "There are three things to weigh here: cost, clarity, and how {a} fits with {c}.",
    "Many teams start with {c} and only add more once the basics hold up.",
    "It is worth writing down the assumptions behind {b}, because they shape every later "
    "decision.",
    "A quick check would be to try one small case of {a} and compare it with {c}.",
    "The finer details of {c} matter less than getting the overall shape right.",
    "If anything about {b} changes often, keep it behind a small interface so the rest stays "
    "stable.",
)
_CLOSINGS = (
    "To summarise: keep {a} simple, measure what changes, and revisit {b} once you have data.",
    "Overall the approach is sound, and {b} is where most of the remaining work lies.",
    "If you want, I can go deeper into {b} or sketch a concrete example.",
)


def default_text(prompt: str) -> str:
    """A plausible 60-120 word answer that mentions words of the prompt; the same prompt
    always gives the same text. Asked to shorten or summarise a text (given after a
    colon), it answers with a shorter version of that text instead."""
    shorter = _shortened(prompt)
    if shorter is not None:
        return shorter
    rng = random.Random(prompt_seed(prompt))
    words = _keywords(prompt)
    # Short prompts: fill the topics up with phrases that read well in every template.
    words += ["your request", "the details", "the next step"][len(words):]
    pick = {"a": words[0], "b": words[1], "c": words[2]}
    target = rng.randint(65, 95)
    sentences = [rng.choice(_OPENINGS).format(**pick)]
    closing = rng.choice(_CLOSINGS).format(**pick)
    budget = target - _words(sentences[0]) - _words(closing)
    middles = list(_MIDDLES)
    rng.shuffle(middles)
    for template in middles:
        sentence = template.format(**pick)
        if budget <= 0:
            break
        sentences.append(sentence)
        budget -= _words(sentence)
    sentences.append(closing)
    return " ".join(sentences)


_SHORTEN = re.compile(r"\b(shorten|condense|summari[sz]e|tl;?dr|in (one|two|three|\d+) "
                      r"sentences?)\b", re.IGNORECASE)


def _shortened(prompt: str) -> str | None:
    """For "Shorten this: <text>" and the like: the text's first sentences, at most about
    half its length and always shorter than it. None for any other prompt."""
    instruction, colon, body = prompt.partition(":")
    body = re.sub(r"(?:^|(?<=\s))(?:\d+[.)]|[-*•])\s+", "", " ".join(body.split()))  # list marks
    if not colon or not _SHORTEN.search(instruction) or len(body.split()) < 4:
        return None
    sentences = re.findall(r"[^.!?]+[.!?]*", body)
    kept = ""
    for sentence in sentences:
        if kept and len(kept) + len(sentence) > len(body) // 2:
            break
        kept += sentence
    words = kept.split()
    if len(kept) >= len(body) or len(words) > max(3, len(body.split()) // 2):
        words = words[: max(3, len(body.split()) // 2)]
    text = " ".join(words).rstrip(",;:-")
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _keywords(prompt: str) -> list[str]:
    seen: list[str] = []
    for word in re.findall(r"[A-Za-z][A-Za-z0-9_-]{2,}", prompt):
        lowered = word.lower()
        # Verb forms make poor topics ("decisions about asserted"): nouns read better.
        if lowered.endswith(("ed", "ing", "ly")) and len(lowered) > 5:
            continue
        if lowered not in _STOPWORDS and lowered not in seen and len(lowered) <= 30:
            seen.append(lowered)
    # The longest words carry the most meaning; keep prompt order among equals.
    return sorted(seen, key=len, reverse=True)[:3]


def _words(sentence: str) -> int:
    return len(sentence.split())
