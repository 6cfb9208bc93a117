"""Step conditions: a small, safe expression language (no eval).

    steps.check.text contains 'LGTM' and not (state.retries >= 3)

- `or`, `and`, `not` (loosest to tightest) and parentheses;
- comparisons `==`, `!=`, `<`, `<=`, `>`, `>=`, `contains`, `in`, `not in`, `not contains`,
  `matches` (a regular expression searched in text) and `between A and B` (inclusive)
  (one per operand pair: `1 < x < 3` is written `1 < x and x < 3`);
- `length(x)`: the length of text, a list or a mapping;
- literals: numbers, 'quoted' or "quoted" strings, true, false, null;
- dot paths into the template context: steps.NAME.FIELD (a StepResult field, else a key of
  the step's JSON output, else a container's child), state.x, global_vars.x, inputs.x,
  workflow.name, loop.index inside a loop; a number in a path indexes a list
  (steps.plan.data.items.0).

pipeline_ex's forms are read too: the whole condition inside `{{ }}`, a step's field
without `steps.` (`review.score > 7` is `steps.review.score > 7`), `steps.NAME.result`
(the step's JSON answer, else its text), and conditions written as `and:` / `or:` / `not:`
mappings or as a list (all must hold) — see `check_spec`.

A bare path is a truth test; a step result is true when the step succeeded. A path to
something that is not there (a step that did not run, a variable never set) is an error,
never a silent false. Each expression is parsed once; evaluating it runs a few closures.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

from rillet.errors import RilletError
from rillet.result import StepResult

ROOTS = ("steps", "global_vars", "inputs", "state", "workflow", "timestamp", "loop")
_STEP_FIELDS = frozenset({f.name for f in fields(StepResult)} | {"data", "success"})
_LITERALS = {"true": True, "false": False, "null": None, "none": None}
_KEYWORDS = frozenset({"and", "or", "not", "contains", "in", "matches", "between"})
_FUNCTIONS = {"length"}
_WRAPPED = re.compile(r"\s*\{\{(?P<expr>.*)\}\}\s*", re.DOTALL)

Getter = Callable[[dict[str, Any]], Any]


class ConditionError(RilletError):
    """A condition is malformed, or cannot be evaluated against this run."""


@dataclass(frozen=True)
class Condition:
    source: str
    paths: tuple[tuple[str, ...], ...]  # every dot path it reads, e.g. ("steps", "check", "text")
    _run: Getter

    def evaluate(self, ctx: dict[str, Any]) -> bool:
        try:
            return _truth(self._run(ctx))
        except ConditionError as exc:
            raise ConditionError(f"condition {self.source!r}: {exc}") from None


def check(expr: str) -> Condition:
    """Parse `expr` (cached); raises ConditionError naming the problem and its column."""
    return _compile(expr)


def check_spec(spec: Any) -> Condition:
    """A condition as the schema takes it: a string, an `and:` / `or:` / `not:` model (or
    mapping), or a list of conditions that must all hold."""
    if isinstance(spec, str):
        return _compile(spec)
    if isinstance(spec, bool):
        return _compile(str(spec).lower())
    kind, parts = spec_parts(spec)
    compiled = [check_spec(part) for part in parts]
    paths = tuple(path for c in compiled for path in c.paths)
    runs = [c._run for c in compiled]
    if kind == "not":
        inner = runs[0]
        return Condition(f"not ({compiled[0].source})", paths,
                         lambda ctx: not _truth(inner(ctx)))
    if kind == "or":
        return Condition(" or ".join(f"({c.source})" for c in compiled), paths,
                         lambda ctx: any(_truth(run(ctx)) for run in runs))
    return Condition(" and ".join(f"({c.source})" for c in compiled), paths,
                     lambda ctx: all(_truth(run(ctx)) for run in runs))


def spec_parts(spec: Any) -> tuple[str, list[Any]]:
    if isinstance(spec, list):
        return "and", spec
    for kind, attribute in (("and", "all_of"), ("or", "any_of"), ("not", "negated")):
        value = spec.get(kind) if isinstance(spec, dict) else getattr(spec, attribute, None)
        if value is not None:
            return kind, [value] if kind == "not" else list(value)
    raise ConditionError(f"a condition is a string, a list, or a mapping with and, or or not "
                         f"(got {spec!r})")


def evaluate(spec: Any, ctx: dict[str, Any]) -> bool:
    return check_spec(spec).evaluate(ctx)


@lru_cache(maxsize=1024)
def _compile(expr: str, roots: tuple[str, ...] = ROOTS, bare: str | None = "steps") -> Condition:
    wrapped = _WRAPPED.fullmatch(expr)
    parser = _Parser(wrapped["expr"] if wrapped else expr, roots, bare)
    try:
        run = parser.parse()
    except RecursionError:
        raise ConditionError(f"condition {expr[:60]!r}: nested too deeply; "
                             f"split it") from None
    return Condition(expr, tuple(parser.paths), run)


def check_item(expr: str) -> Condition:
    """A condition about one item of data (data_transform's filter): bare paths are keys
    of the item (`status == 'done'`, `score.total > 3`) and `value` is the operation's
    field of the item."""
    return _compile(expr, ("value", "item"), "item")


# --- tokens -----------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w.])
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>==|!=|<=|>=|<|>|\(|\))
  | (?P<word>[A-Za-z_][\w-]*(?:\.[\w-]+)*)
""", re.VERBOSE)

_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number | string | op | word
    text: str
    column: int  # 1-based


def _tokenize(expr: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            char = expr[pos]
            hint = "; compare with ==" if char == "=" else \
                "; close the string" if char in "'\"" else ""
            raise _syntax(expr, pos + 1, f"unexpected '{char}'{hint}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), pos + 1))
        pos = match.end()
    return tokens


def _syntax(expr: str, column: int, problem: str) -> ConditionError:
    return ConditionError(f"condition {expr!r}: {problem} (column {column})")


# --- parser: each rule returns a closure over the context ------------------------------------

_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class _Parser:
    def __init__(self, expr: str, roots: tuple[str, ...] = ROOTS, bare: str | None = "steps"):
        self.expr = expr
        self.tokens = _tokenize(expr)
        self.pos = 0
        self.paths: list[tuple[str, ...]] = []
        self.roots = roots
        self.bare = bare  # the root a path that starts with no root is under

    def parse(self) -> Getter:
        if not self.tokens:
            raise ConditionError("a condition cannot be empty; write true, false or a test")
        run = self._or()
        token = self._peek()
        if token is not None:
            raise _syntax(self.expr, token.column, f"unexpected '{token.text}'"
                          + ("; join tests with and / or" if token.kind != "op" else ""))
        return run

    # helpers

    def _peek(self, ahead: int = 0) -> _Token | None:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def _is_word(self, word: str, ahead: int = 0) -> bool:
        token = self._peek(ahead)
        return token is not None and token.kind == "word" and token.text == word

    def _take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    # rules, loosest first

    def _or(self) -> Getter:
        parts = [self._and()]
        while self._is_word("or"):
            self._take()
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        return lambda ctx: any(_truth(part(ctx)) for part in parts)

    def _and(self) -> Getter:
        parts = [self._not()]
        while self._is_word("and"):
            self._take()
            parts.append(self._not())
        if len(parts) == 1:
            return parts[0]
        return lambda ctx: all(_truth(part(ctx)) for part in parts)

    def _not(self) -> Getter:
        if self._is_word("not"):
            self._take()
            inner = self._not()
            return lambda ctx: not _truth(inner(ctx))
        return self._comparison()

    def _comparison(self) -> Getter:
        left = self._operand()
        op = self._operator()
        if op is None:
            return left
        right = self._operand()
        if op == "between":
            if not self._is_word("and"):
                token = self._peek()
                raise _syntax(self.expr, token.column if token else len(self.expr) + 1,
                              "between needs 'and': x between 1 and 5")
            self._take()
            upper = self._operand()
            return _between(left, right, upper)
        if self._operator(consume=False) is not None:
            token = self._peek()
            raise _syntax(self.expr, token.column if token else len(self.expr),
                          "comparisons cannot be chained; join them with and")
        return _comparison(op, left, right)

    def _operator(self, consume: bool = True) -> str | None:
        token = self._peek()
        if token is None:
            return None
        if token.kind == "op" and token.text in ("==", "!=", "<", "<=", ">", ">="):
            op = token.text
            width = 1
        elif token.kind == "word" and token.text in ("contains", "in", "matches", "between"):
            op, width = token.text, 1
        elif token.kind == "word" and token.text == "not" and (
                self._is_word("in", 1) or self._is_word("contains", 1)):
            op, width = f"not {self._peek(1).text}", 2  # type: ignore[union-attr]
        else:
            return None
        if consume:
            self.pos += width
        return op

    def _operand(self) -> Getter:
        token = self._peek()
        if token is None:
            raise _syntax(self.expr, len(self.expr) + 1, "expected a value at the end")
        self._take()
        if token.kind == "op" and token.text == "(":
            inner = self._or()
            closing = self._peek()
            if closing is None or closing.text != ")":
                raise _syntax(self.expr, closing.column if closing else len(self.expr) + 1,
                              "missing ')'")
            self._take()
            return inner
        if token.kind == "number":
            number = float(token.text) if any(c in token.text for c in ".eE") \
                else int(token.text)
            return lambda ctx: number
        if token.kind == "string":
            text = _ESCAPE.sub(lambda m: _ESCAPES.get(m[1], m[1]), token.text[1:-1])
            return lambda ctx: text
        if token.kind == "word":
            lowered = token.text.lower()
            if lowered in _LITERALS:
                value = _LITERALS[lowered]
                return lambda ctx: value
            if token.text in _KEYWORDS:
                raise _syntax(self.expr, token.column, f"expected a value before '{token.text}'")
            if token.text in _FUNCTIONS and self._peek() is not None \
                    and self._peek().text == "(":  # type: ignore[union-attr]
                return _length(self._operand())
            return self._path(token)
        raise _syntax(self.expr, token.column, f"expected a value, found '{token.text}'")

    def _path(self, token: _Token) -> Getter:
        parts = tuple(token.text.split("."))
        if parts[0] not in self.roots:
            close = difflib.get_close_matches(parts[0], self.roots, n=1)
            if self.bare is None or close:
                hint = f"did you mean {close[0]}?" if close else \
                    f"paths start with {', '.join(self.roots)}; quote text as 'text'"
                raise _syntax(self.expr, token.column, f"unknown name '{parts[0]}'; {hint}")
            parts = (self.bare, *parts)  # pipeline_ex's `review.score`: steps.review.score
        self.paths.append(parts)
        return _getter(parts)


# --- evaluation ---------------------------------------------------------------------------------


def _truth(value: Any) -> bool:
    if type(value) is StepResult:
        return value.success
    return bool(value)


def _getter(parts: tuple[str, ...]) -> Getter:
    root, keys = parts[0], parts[1:]

    def get(ctx: dict[str, Any]) -> Any:
        try:
            value = ctx[root]
        except KeyError:
            raise ConditionError(f"'{root}' is not available here") from None
        for depth, key in enumerate(keys):
            value = _lookup(value, key, parts, depth + 1)
        return value

    return get


def _lookup(value: Any, key: str, parts: tuple[str, ...], depth: int) -> Any:
    where = ".".join(parts[:depth])
    if type(value) is dict:
        try:
            return value[key]
        except KeyError:
            pass
        if depth == 1 and parts[0] == "steps":
            raise ConditionError(f"step '{key}' did not run (it was skipped, failed or comes "
                                 f"later), so {'.'.join(parts)} has no value")
        held = ", ".join(map(str, value)) or "nothing"
        raise ConditionError(f"{where} has no '{key}' (it has: {held})")
    if type(value) is StepResult:
        if key == "result" and value.output is not None:
            return value.output  # pipeline_ex's name for a structured step's object
        if key in _STEP_FIELDS:
            return getattr(value, key)
        if key == "result":  # pipeline_ex's steps.NAME.result: the JSON answer, else the text
            data = value.data
            return value.text if data is None else data
        children = value.children  # a container's: steps.fanout.branch_a, steps.review.0
        if isinstance(children, dict) and key in children:
            return children[key]
        if isinstance(children, list) and key.isdigit() and int(key) < len(children):
            return children[int(key)]
        data = value.data
        if isinstance(data, dict) and key in data:
            return data[key]
        raise ConditionError(f"step '{value.step}' has no field '{key}' and its text is not "
                             f"JSON with that key (fields: text, status, output_tokens, "
                             f"cost_usd, data, ...)")
    if isinstance(value, list) and key.isdigit():
        index = int(key)
        if index < len(value):
            return value[index]
        raise ConditionError(f"{where} has {len(value)} items, no item {index}")
    if isinstance(value, dict):
        if key in value:
            return value[key]
        raise ConditionError(f"{where} has no '{key}'")
    raise ConditionError(f"{where} is {_kind(value)}, which has no '{key}'")


def _comparison(op: str, left: Getter, right: Getter) -> Getter:
    if op == "==":
        return lambda ctx: left(ctx) == right(ctx)
    if op == "!=":
        return lambda ctx: left(ctx) != right(ctx)
    if op in _ORDER:
        compare = _ORDER[op]

        def ordered(ctx: dict[str, Any]) -> bool:
            a, b = left(ctx), right(ctx)
            if _is_number(a) and _is_number(b) or type(a) is str and type(b) is str:
                return compare(a, b)
            raise ConditionError(f"cannot compare {_kind(a)} {a!r} {op} {_kind(b)} {b!r}")

        return ordered
    if op == "matches":
        return lambda ctx: _matches(left(ctx), right(ctx))
    negate = op.startswith("not ")
    if op.endswith("contains"):
        def contains(ctx: dict[str, Any]) -> bool:
            return _contains(left(ctx), right(ctx)) != negate
        return contains

    def inside(ctx: dict[str, Any]) -> bool:
        return _contains(right(ctx), left(ctx)) != negate
    return inside


def _between(value: Getter, low: Getter, high: Getter) -> Getter:
    def between(ctx: dict[str, Any]) -> bool:
        v, a, b = value(ctx), low(ctx), high(ctx)
        if all(_is_number(x) for x in (v, a, b)) or all(type(x) is str for x in (v, a, b)):
            return a <= v <= b
        raise ConditionError(f"cannot test {_kind(v)} {v!r} between {a!r} and {b!r}")
    return between


def _length(inner: Getter) -> Getter:
    def length(ctx: dict[str, Any]) -> int:
        value = inner(ctx)
        if type(value) is StepResult:
            value = value.text
        if isinstance(value, (str, list, dict)):
            return len(value)
        raise ConditionError(f"length() needs text, a list or a mapping, not {_kind(value)}")
    return length


def _matches(text: Any, pattern: Any) -> bool:
    if type(text) is StepResult:
        text = text.text
    if type(text) is not str or type(pattern) is not str:
        raise ConditionError(f"matches needs text on both sides, not {_kind(text)} and "
                             f"{_kind(pattern)}")
    try:
        return re.search(pattern, text) is not None
    except re.error as exc:
        raise ConditionError(f"matches: {pattern!r} is not a regular expression ({exc})") \
            from None


def _contains(container: Any, item: Any) -> bool:
    if type(container) is str:
        if type(item) is not str:
            raise ConditionError(f"text can only contain text, not {_kind(item)} {item!r}")
        return item in container
    if isinstance(container, (list, tuple, dict, set, frozenset)):
        return item in container
    raise ConditionError(f"cannot look inside {_kind(container)} {container!r} "
                         f"(contains / in need text, a list or a mapping)")


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is StepResult:
        return "a step result"
    return {bool: "a boolean", int: "a number", float: "a number", str: "text",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)
