"""pipeline_ex's template functions, as globals of the sandboxed Jinja environment:
`{{ multiply(inputs.count, 2) }}`, add, subtract, divide, max, min, round, floor, ceil.

pipeline_ex (lib/pipeline/state/variable_engine.ex, call_function) read each argument as
a number, a numeric string ("42", "2.5") becoming that number. Where it quietly used 0 (an
argument that is not a number, a division by zero) these raise instead, so a wrong value
stops the step with its name rather than flowing on as 0. `round` rounds halves away from
zero, as Elixir's round/1 did (Python's round() would give round(2.5) == 2).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from rillet.workflow.template_limits import check_product

_NUMBER = re.compile(r"\s*-?\d+(\.\d+)?\s*")


def number(value: Any, function: str) -> int | float:
    """`value` as a number: ints and floats as they are, numeric strings parsed."""
    if isinstance(value, bool):
        raise ValueError(f"{function}(): {value!r} is not a number")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value) if "." in value else int(value)
    raise ValueError(f"{function}(): {value!r} is not a number")


def multiply(a: Any, b: Any) -> int | float:
    x, y = number(a, "multiply"), number(b, "multiply")
    check_product(x, y)
    return x * y


def add(a: Any, b: Any) -> int | float:
    return number(a, "add") + number(b, "add")


def subtract(a: Any, b: Any) -> int | float:
    return number(a, "subtract") - number(b, "subtract")


def divide(a: Any, b: Any) -> float:
    divisor = number(b, "divide")
    if divisor == 0:
        raise ZeroDivisionError(f"divide({a!r}, {b!r}): division by zero")
    return number(a, "divide") / divisor  # always a float, as Elixir's / was


def maximum(*values: Any) -> int | float:
    if not values:
        raise ValueError("max() needs at least one value")
    return max(number(v, "max") for v in values)


def minimum(*values: Any) -> int | float:
    if not values:
        raise ValueError("min() needs at least one value")
    return min(number(v, "min") for v in values)


def round_half_away(value: Any) -> int:
    x = number(value, "round")
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def floor(value: Any) -> int:
    return math.floor(number(value, "floor"))


def ceil(value: Any) -> int:
    return math.ceil(number(value, "ceil"))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "multiply": multiply, "add": add, "subtract": subtract, "divide": divide,
    "max": maximum, "min": minimum, "round": round_half_away, "floor": floor, "ceil": ceil,
}
for _function in FUNCTIONS.values():
    # They take numbers of any size (the product is bounded in multiply), unlike the widths
    # and counts template_limits bounds for other calls.
    _function.numeric_arguments = True  # type: ignore[attr-defined]
