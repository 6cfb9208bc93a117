"""Values a container step reads from the run: a for_loop's list, a switch's expression.

pipeline_ex writes them as templates (`{{ steps.scan.files }}`), as bare dotted paths
(`steps.scan.files`, `scan.files`, `loop.category.items`, `state.list`) or as
`previous_response:STEP[:field]`. Each is rendered through the same sandboxed templates.
"""

from __future__ import annotations

import re
from typing import Any

from rillet.errors import RilletError
from rillet.result import StepResult, parse_json_text
from rillet.workflow.templates import has_template, render_value

_PATH = re.compile(r"[A-Za-z_][\w-]*(\.[\w-]+|\[\d+\])*")
_ROOTS = ("steps", "loop", "state", "inputs", "global_vars", "workflow")


def lookup(source: Any, scope: Any) -> Any:
    """The value `source` names in `scope` (a StepResult becomes its JSON output)."""
    if not isinstance(source, str):
        return source
    text = source.strip()
    if has_template(text):
        value = render_value(text, scope.template_context())
    elif text.startswith("previous_response"):
        _, _, rest = text.partition(":")
        step, _, field = rest.partition(":")
        if not step:
            raise RilletError("previous_response needs a step: previous_response:STEP[:field]")
        value = render_value(_expression(f"steps.{step}" + (f".{field}" if field else "")),
                             scope.template_context())
    elif _PATH.fullmatch(text):
        root = text.split(".", 1)[0].split("[", 1)[0]
        path = text if root in _ROOTS else f"steps.{text}"
        value = render_value(_expression(path), scope.template_context())
    else:
        raise RilletError(f"'{source}' is neither a template, a dotted path nor "
                          f"previous_response:STEP[:field]")
    if isinstance(value, StepResult):
        data = value.data
        return data if data is not None else value.text
    return value


def as_list(source: Any, scope: Any) -> list[Any]:
    value = lookup(source, scope)
    if isinstance(value, str):
        parsed = parse_json_text(value)
        value = parsed if parsed is not None else value
    if isinstance(value, dict):
        raise RilletError(f"data_source gives a mapping (keys: {', '.join(map(str, value))}), "
                          f"not a list; point it at one of its lists")
    if not isinstance(value, (list, tuple)):
        raise RilletError(f"data_source gives {type(value).__name__} {value!r:.60}, not a list")
    return list(value)


def _expression(path: str) -> str:
    """`steps.my-step.files` as a template: names with a dash go in brackets."""
    root, *keys = path.split(".")
    parts = [root] + [f"[{key!r}]" if "-" in key else f".{key}" for key in keys]
    return "{{ " + "".join(parts) + " }}"
