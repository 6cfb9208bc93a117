"""Bounds on what a template may compute, on top of Jinja's sandbox.

The sandbox stops templates from reaching Python's internals, not from asking for a
number or a string too large to hold: `{{ 10**(10**10) }}` would hang (Jinja even folds it
while compiling, so `validate` hung), `{{ 'a' * 10**9 }}` would build a gigabyte. Here
`**`, `*` and `%` are checked before they run (which also stops the folding), so are
numeric widths and counts handed to methods and filters, and a rendered template may
not grow past MAX_OUTPUT_CHARS.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT_CHARS = 10_000_000  # one rendered value
MAX_INT_BITS = 10_000  # about 3,000 decimal digits
_WIDTH = re.compile(r"%[-#0 +]*(\d+|\*)|\{[^{}]*:[^{}]*?(\d+)[^{}]*\}")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"**", "*", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals.pop("namespace", None)  # mutable cells would let a loop double a string
        for name in ("center", "indent", "format", "truncate", "wordwrap"):
            if name in self.filters:
                self.filters[name] = _bounded_arguments(self.filters[name], name)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            check_product(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_format(left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if not getattr(__obj, "numeric_arguments", False):
            _check_sizes(getattr(__obj, "__name__", "a function"), (*args, *kwargs.values()))
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format(value.__self__, ())  # '{:>999999999}'.format(...)
        return wrapped


def render_bounded(chunks: Iterable[str]) -> str:
    """Join a template's output (`template.generate(...)`), refusing more than
    MAX_OUTPUT_CHARS."""
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise SecurityError(f"the template renders more than {MAX_OUTPUT_CHARS:,} "
                                f"characters")
        parts.append(chunk)
    return "".join(parts)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_power(base: Any, exponent: Any) -> None:
    if _is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1:
        if exponent * math.log2(abs(base)) > MAX_INT_BITS:
            raise SecurityError(f"{base} ** {exponent} is too large a number for a template "
                                f"(at most {MAX_INT_BITS} bits)")


def check_product(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise SecurityError(f"a product of more than {MAX_INT_BITS} bits is too large "
                                f"for a template")
        return
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and _is_int(count):
            if len(seq) * count > MAX_OUTPUT_CHARS:
                raise SecurityError(f"repeating {len(seq)} item(s) {count} times is more than "
                                    f"{MAX_OUTPUT_CHARS:,}")


def _check_format(text: str, values: Any) -> None:
    for match in _WIDTH.finditer(text):
        width = match.group(1) or match.group(2)
        if width and width.isdigit() and int(width) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"a format width of {width} is more than {MAX_OUTPUT_CHARS:,}")
    _check_sizes("%", values if isinstance(values, (tuple, list)) else (values,))


def _check_sizes(what: str, values: Iterable[Any]) -> None:
    for value in values:
        if _is_int(value) and abs(value) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"{what}: the number {value} is too large an argument "
                                f"(at most {MAX_OUTPUT_CHARS:,})")


def _bounded_arguments(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_sizes(f"filter '{name}'", (*args[1:], *kwargs.values()))
        if name == "format" and args and isinstance(args[0], str):
            _check_format(args[0], args[1:])
        return function(*args, **kwargs)

    # Jinja passes the context / eval context to filters marked for it; keep the mark.
    bounded.__dict__.update(getattr(function, "__dict__", {}))
    bounded.__name__ = getattr(function, "__name__", name)
    return bounded
