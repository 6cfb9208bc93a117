"""`{{ ... }}` templates in workflow values, rendered with a sandboxed Jinja2 environment.

The context is `RunContext.template_context()`: steps (name -> StepResult), global_vars,
inputs, state, workflow, timestamp, loop (inside a loop). Undefined names are errors, never
empty strings (unless the run opts into pipeline_ex's empty text: unset_names.py). A
string with no template syntax is returned as it is without touching Jinja (the common
case), and every template is compiled once.

pipeline_ex's forms work too: `{{ steps.NAME.result }}` is the step's JSON answer (or its
text when the answer is not JSON) and `{{ steps.NAME.result.field }}` a field of it; a
bare `{{ name }}` is a variable, looked up as pipeline_ex did in the variables set by
set_variable (state, then global_vars) and then in the run's inputs. A mapping or list
is written as JSON. pipeline_ex's functions (`{{ multiply(a, b) }}`, template_functions),
`{{ previous_response:NAME }}` and `{{ a ? b : c }}` (template_syntax) work as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.runtime import StrictUndefined, Undefined, missing

from rillet.errors import RilletError
from rillet.result import StepResult
from rillet.workflow.template_functions import FUNCTIONS
from rillet.workflow.template_limits import BoundedSandbox, render_bounded
from rillet.workflow.template_syntax import to_jinja
from rillet.workflow.unset_names import CONTEXT_KEY, is_blank

ROOTS = ("steps", "global_vars", "inputs", "state", "workflow", "timestamp", "loop")
# Where a bare {{ name }} is looked up, in order.
BARE_NAME_SCOPES = ("state", "global_vars", "inputs")


class TemplateError(RilletError):
    """A template cannot be compiled or rendered; the message names the template."""


class _Missing(StrictUndefined):
    """Undefined values that say which name is missing and what there is instead."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        obj, name = self._undefined_obj, self._undefined_name
        if self._undefined_hint:
            return self._undefined_hint
        if obj is missing:
            return (f"'{name}' is not set: a bare name is a variable of state, global_vars "
                    f"or inputs (set it with set_variable, global_vars, inputs: or --input "
                    f"{name}=...); templates can also use {', '.join(ROOTS)}")
        if type(obj) is StepResult:
            return (f"step '{obj.step}' has no field '{name}' (and its text is not JSON "
                    f"with that key)")
        if isinstance(obj, dict):
            if obj and all(type(v) is StepResult for v in obj.values()):
                return (f"no step '{name}' has finished (it was skipped or has not run; "
                        f"finished: {', '.join(obj)})")
            held = ", ".join(map(str, obj)) or "nothing yet"
            return f"'{name}' is not set (set: {held})"
        return super()._undefined_message


class _Environment(BoundedSandbox):
    """The sandbox (no `__class__` tricks, no mutating the run's dicts, no huge numbers or
    strings: template_limits), with two lookups
    made to fit workflows: a mapping's keys come before its methods (a step named `items`
    is that step), and `steps.NAME.key` falls back to a key of the step's JSON output."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        if type(obj) is StepResult and attribute == "result":
            # pipeline_ex's name: a structured step's object, else its JSON answer or text
            return obj.output if obj.output is not None else step_value(obj)
        value = super().getattr(obj, attribute)
        if type(obj) is StepResult and isinstance(value, Undefined):
            if isinstance(obj.children, dict) and attribute in obj.children:
                return obj.children[attribute]  # steps.fanout.branch_a
            data = obj.data
            if isinstance(data, dict) and attribute in data:
                return data[attribute]
        return value

    def getitem(self, obj: Any, argument: Any) -> Any:
        if type(obj) is StepResult and obj.children is not None:
            children = obj.children  # steps.review[3].summarise, steps.fanout['branch-a']
            if isinstance(children, list) and isinstance(argument, int) \
                    and -len(children) <= argument < len(children):
                return children[argument]
            if isinstance(children, dict) and argument in children:
                return children[argument]
        return super().getitem(obj, argument)


def step_value(result: StepResult) -> Any:
    """pipeline_ex's `steps.NAME.result`: the JSON answer, else the text."""
    data = result.data
    return result.text if data is None else data


def _finalize(value: Any) -> Any:
    # A mapping or list in text is written as JSON, as pipeline_ex wrote it (not Python's repr).
    if type(value) in (dict, list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


_ENV = _Environment(undefined=_Missing, autoescape=False, keep_trailing_newline=True,
                    finalize=_finalize)
_ENV.globals.pop("lipsum", None)  # no random text in prompts
_ENV.globals.pop("cycler", None)
_ENV.globals.pop("joiner", None)
_ENV.globals.update(FUNCTIONS)


@jinja2.pass_context
def _previous_response(context: Any, path: str) -> Any:
    """`{{ previous_response:NAME.key }}`: step NAME's answer (its JSON, else its text), or
    the value an earlier data_transform stored under output_field NAME; then its keys."""
    name, *keys = path.split(".")
    steps, state = context.get("steps") or {}, context.get("state") or {}
    if name in steps:
        value: Any = steps[name].output if steps[name].output is not None \
            else step_value(steps[name])
    elif name in state:
        value = state[name]
    else:
        raise jinja2.UndefinedError(
            f"previous_response:{name}: no step '{name}' has finished and no earlier "
            f"data_transform has output_field '{name}'")
    for key in keys:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise jinja2.UndefinedError(f"previous_response:{path}: no '{key}' in the value "
                                        f"of '{name}'")
    return value


_ENV.globals["previous_response"] = _previous_response

# `{{ expr }}` and nothing else: rendered to the expression's own value (int, list, ...).
_SINGLE = re.compile(r"\{\{-?(?P<expr>.*?)-?\}\}", re.DOTALL)
_SYNTAX = ("{{", "{%", "{#")


def has_template(text: str) -> bool:
    return "{" in text and any(mark in text for mark in _SYNTAX)


@lru_cache(maxsize=2048)
def _template(text: str) -> jinja2.Template:
    try:
        return _ENV.from_string(to_jinja(text))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {_short(text)}: {_syntax_message(exc)}") from None


@lru_cache(maxsize=2048)
def _single_expression(text: str) -> Any:
    """The compiled expression when `text` is exactly one `{{ expr }}`, else None."""
    match = _SINGLE.fullmatch(to_jinja(text))
    if match is None:
        return None
    expr = match["expr"]
    if any(mark in expr for mark in (*_SYNTAX, "}}")):
        return None
    try:
        return _ENV.compile_expression(expr, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {_short(text)}: {_syntax_message(exc)}") from None


def render(text: str, ctx: dict[str, Any]) -> str:
    """`text` with its templates filled in from `ctx`."""
    if "{" not in text or not has_template(text):
        return text
    template = _template(text)
    try:
        return render_bounded(template.generate(_with_bare_names(text, ctx)))
    except Exception as exc:  # noqa: BLE001 - any failure inside a template is the template's
        raise _render_error(text, exc) from exc


def render_value(value: Any, ctx: dict[str, Any]) -> Any:
    """Like `render` for strings, through dicts and lists. A string that is exactly one
    `{{ expr }}` becomes the expression's value with its type (`{{ x | length }}` -> 5)."""
    if isinstance(value, str):
        if "{" not in value or not has_template(value):
            return value
        expression = _single_expression(value)
        if expression is None:
            return render(value, ctx)
        try:
            result = expression(**_with_bare_names(value, ctx))
            if is_blank(result):  # --unset-names empty: the value of a name never set
                return ""
            if isinstance(result, Undefined):
                str(result)  # raises the UndefinedError that names what is missing
        except Exception as exc:  # noqa: BLE001
            raise _render_error(value, exc) from exc
        return result
    if isinstance(value, dict):
        return {key: render_value(item, ctx) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, ctx) for item in value]
    return value


@lru_cache(maxsize=2048)
def bare_names(text: str) -> tuple[str, ...]:
    """The names `text` reads that are neither a context root nor one of Jinja's own."""
    try:
        tree = _ENV.parse(to_jinja(text))
    except jinja2.TemplateSyntaxError:
        return ()
    return tuple(sorted(name for name in meta.find_undeclared_variables(tree)
                        if not known_name(name)))


def _with_bare_names(text: str, ctx: dict[str, Any]) -> dict[str, Any]:
    names = bare_names(text)
    if not names:
        return ctx
    found = dict(ctx)
    blank = ctx.get(CONTEXT_KEY)  # set only with --unset-names empty
    for name in names:
        for scope in BARE_NAME_SCOPES:
            values = ctx.get(scope)
            if isinstance(values, dict) and name in values:
                found[name] = values[name]
                break
        else:
            if blank is not None:
                found[name] = blank(name)
    return found


def check(text: str) -> list[tuple[str, str | None]]:
    """Compile `text` (raising TemplateError on bad syntax) and return the names it reads:
    (root, first key or None) for every root name it uses, e.g. ("steps", "draft")."""
    if not has_template(text):
        return []
    try:
        tree = _ENV.parse(to_jinja(text))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {_short(text)}: {_syntax_message(exc)}") from None
    _template(text)  # compiles it (and warms the cache for the run)
    _single_expression(text)
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and not known_name(call.node.name):
            raise TemplateError(f"template {_short(text)}: {call.node.name}() is not a "
                                f"function templates have (they have "
                                f"{', '.join(FUNCTIONS)}, range and dict; Jinja's filters "
                                f"such as {{{{ x | length }}}} work too)")
    found: list[tuple[str, str | None]] = []
    responses = [(call.node.name, call.args[0].value.split(".")[0])
                 for call in tree.find_all(nodes.Call)
                 if isinstance(call.node, nodes.Name) and call.node.name == "previous_response"
                 and len(call.args) == 1 and isinstance(call.args[0], nodes.Const)
                 and isinstance(call.args[0].value, str)]
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if isinstance(target, nodes.Name) and target.ctx == "load":
            if isinstance(node, nodes.Getattr):
                found.append((target.name, node.attr))
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.append((target.name, node.arg.value))
            else:
                found.append((target.name, None))
    referenced = meta.find_undeclared_variables(tree)
    for name in referenced:
        if not any(root == name for root, _ in found):
            found.append((name, None))
    # Names a template defines itself ({% set %}, loop variables) are not lookups.
    return [(root, key) for root, key in found if root in referenced] + responses


def known_name(name: str) -> bool:
    """A name a template may use: a context root or one of Jinja's own globals."""
    return name in ROOTS or name in _ENV.globals


def _render_error(text: str, exc: BaseException) -> TemplateError:
    if isinstance(exc, jinja2.UndefinedError):
        reason = exc.message or "undefined value"
    elif isinstance(exc, jinja2.exceptions.SecurityError):
        reason = f"not allowed in a template ({exc})"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return TemplateError(f"template {_short(text)}: {reason}")


def _syntax_message(exc: jinja2.TemplateSyntaxError) -> str:
    where = f" (template line {exc.lineno})" if exc.lineno and exc.lineno > 1 else ""
    return f"syntax error: {exc.message}{where}"


def _short(text: str, limit: int = 80) -> str:
    one_line = " ".join(text.split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    return repr(one_line)


def strings_in(value: Any) -> Iterator[str]:
    """Every string in a value parsed from YAML (mappings' values, lists' items)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
