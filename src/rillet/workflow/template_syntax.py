"""Two forms pipeline_ex's files write inside `{{ }}` that Jinja does not parse, rewritten
into Jinja before a template is compiled (text only: nothing is evaluated here).

- `{{ previous_response:NAME }}` (also `NAME.key.key`) becomes
  `{{ previous_response('NAME.key.key') }}`: the answer of step NAME, or the value an
  earlier data_transform stored under its output_field NAME (template_functions has the
  lookup).
- `{{ a ? b : c }}` becomes `{{ (b) if (a) else (c) }}`; nested ones group to the right,
  as in C. pipeline_ex's own engine had no such operator (it read the whole expression
  as one variable name and gave nil), so this is the meaning the files' authors wrote.
"""

from __future__ import annotations

import re

_EXPRESSION = re.compile(r"(\{\{-?)(.*?)(-?\}\})", re.DOTALL)
_PREVIOUS_RESPONSE = re.compile(r"\bprevious_response\s*:\s*([\w-]+(?:[.:][\w-]+)*)")
_OPENERS, _CLOSERS = "([{", ")]}"


def to_jinja(text: str) -> str:
    """`text` with pipeline_ex's forms rewritten; text without them is returned as is."""
    if "?" not in text and "previous_response" not in text:
        return text
    return _EXPRESSION.sub(_rewrite, text)


def _rewrite(match: re.Match[str]) -> str:
    opener, expr, closer = match.groups()
    in_string = _string_positions(expr)
    expr = _PREVIOUS_RESPONSE.sub(
        lambda m: m[0] if m.start() in in_string
        else f"previous_response('{m[1].replace(':', '.')}')", expr)
    return opener + _ternary(expr) + closer


def _characters(expr: str):  # noqa: ANN202 - yields (index, char, quoted)
    """Each character of `expr`, and whether it is inside a quoted string literal (its
    closing quote counted in, its opening quote not)."""
    quote, escaped = "", False
    for index, char in enumerate(expr):
        if quote:
            yield index, char, True
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        else:
            if char in "'\"":
                quote = char
            yield index, char, False


def _string_positions(expr: str) -> set[int]:
    """Indexes of characters inside a quoted string literal (left as they are)."""
    return {index for index, _, quoted in _characters(expr) if quoted}


def _ternary(expr: str) -> str:
    question = _top_level(expr, "?")
    if question is None:
        return expr
    condition, rest = expr[:question], expr[question + 1:]
    colon = _matching_colon(rest)
    if colon is None:
        return expr  # no ':' to pair with: Jinja reports the stray '?'
    then, otherwise = rest[:colon], rest[colon + 1:]
    return (f" ({_ternary(then).strip()}) if ({condition.strip()}) "
            f"else ({_ternary(otherwise).strip()}) ")


def _scan(expr: str):  # noqa: ANN202 - yields (index, char) outside strings and brackets
    depth = 0
    for index, char, quoted in _characters(expr):
        if quoted or char in "'\"":
            continue
        if char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth -= 1
        elif depth == 0:
            yield index, char


def _top_level(expr: str, wanted: str) -> int | None:
    return next((i for i, char in _scan(expr) if char == wanted), None)


def _matching_colon(rest: str) -> int | None:
    """The ':' that closes the first '?', skipping pairs of nested `x ? y : z`."""
    pending = 0
    for index, char in _scan(rest):
        if char == "?":
            pending += 1
        elif char == ":":
            if pending == 0:
                return index
            pending -= 1
    return None
