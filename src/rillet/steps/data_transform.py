"""`type: data_transform`: pipeline_ex's operations (filter, map, aggregate, join,
group_by, sort, select) applied in order to JSON data. No eval: filter conditions are
parsed by rillet.workflow.conditions, with the item's keys as bare names."""

from __future__ import annotations

from typing import Any

from rillet.engine.context import RunContext
from rillet.errors import RilletError
from rillet.result import StepResult
from rillet.steps.echo import as_text
from rillet.workflow.conditions import ConditionError, check_item
from rillet.workflow.templates import has_template, render_value, step_value


class TransformError(RilletError):
    """An operation cannot be applied to the data it was given."""


def run(step: Any, ctx: RunContext) -> StepResult:
    data = resolve_source(step.input_source, ctx)
    for index, op in enumerate(step.operations):
        try:
            data = _OPERATIONS[op.operation](data, op, ctx)
        except (TransformError, ConditionError, TypeError) as exc:
            raise TransformError(f"operations[{index}] ({op.operation}): {exc}") from None
    if step.output_field:
        ctx.state[step.output_field] = data
    return StepResult(step=step.name, text=as_text(data))


def resolve_source(source: str, ctx: RunContext) -> Any:
    """`previous_response:STEP`, `previous_response:STEP:path` or `...:STEP.path` (STEP
    may also be the output_field of an earlier data_transform, which pipeline_ex's
    lookup by step name did not find), a variable's name (state, then global_vars), or
    a template."""
    if has_template(source):
        return render_value(source, ctx.template_context())
    if source.startswith("previous_response:"):
        name, _, path = source.removeprefix("previous_response:").replace(":", ".", 1) \
            .partition(".")
        result = ctx.results.get(name)
        if result is None and name in ctx.state:
            value = ctx.state[name]  # an earlier data_transform's output_field
        elif result is None or not result.success:
            raise TransformError(f"input '{source}': step '{name}' did not finish")
        else:
            value = step_value(result)
        return field_of(value, path, source) if path else value
    for scope in (ctx.state, ctx.global_vars):
        if source in scope:
            return scope[source]
    raise TransformError(f"input '{source}' is neither previous_response:STEP nor a variable "
                         f"that is set")


def field_of(value: Any, path: str, where: str = "") -> Any:
    for key in path.split("."):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise TransformError(f"{where or path}: no '{key}' in the data")
    return value


def _get(item: Any, field: str | None) -> Any:
    if field is None:
        return item
    value = item
    for key in field.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _set(item: Any, field: str, new: Any) -> Any:
    if not isinstance(item, dict):
        return item
    head, _, rest = field.partition(".")
    if rest:
        return {**item, head: _set(item.get(head, {}), rest, new)}
    return {**item, head: new}


def _items(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise TransformError(f"{what} needs a list, got {type(data).__name__}")
    return data


def _filter(data: Any, op: Any, ctx: RunContext) -> Any:
    condition = check_item(op.condition)

    def keep(item: Any) -> bool:
        scope = {"item": item if isinstance(item, dict) else {}, "value": _get(item, op.field)}
        return condition.evaluate(scope)

    if isinstance(data, list):
        return [item for item in data if keep(item)]
    return data if keep(data) else None


def _map(data: Any, op: Any, ctx: RunContext) -> Any:
    def change(item: Any) -> Any:
        if op.mapping is not None and op.field is None:
            return {**item, **op.mapping} if isinstance(item, dict) else item
        current = _get(item, op.field)
        if op.mapping is not None:
            return _set(item, op.field, op.mapping.get(_key(current), current))
        if not isinstance(current, str):
            return item
        return _set(item, op.field, current.upper() if op.expression == "uppercase"
                    else current.lower())

    return [change(item) for item in data] if isinstance(data, list) else change(data)


def _key(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _aggregate(data: Any, op: Any, ctx: RunContext) -> Any:
    items = data if isinstance(data, list) else [data]
    values = [v for v in (_get(item, op.field) for item in items) if v is not None]
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    function = op.function
    if function == "sum":
        return sum(numbers)
    if function == "average":
        return sum(numbers) / len(numbers) if numbers else None
    if function == "count":
        return len(values)
    if function in ("max", "min"):
        return (max if function == "max" else min)(numbers) if numbers else None
    if function == "first":
        return values[0] if values else None
    if function == "last":
        return values[-1] if values else None
    unique: list[Any] = []
    for value in values:
        if value not in unique:
            unique.append(value)
    return unique


def _join(data: Any, op: Any, ctx: RunContext) -> Any:
    right = _items(resolve_source(op.right_source, ctx), "join's right_source")
    left_field = op.left_field or op.join_key

    def merged(item: Any) -> Any:
        wanted = _get(item, left_field)
        match = next((other for other in right if isinstance(other, dict)
                      and _get(other, op.join_key) == wanted), None)
        return {**item, **match} if match is not None and isinstance(item, dict) else item

    return [merged(item) for item in data] if isinstance(data, list) else merged(data)


def _group_by(data: Any, op: Any, ctx: RunContext) -> Any:
    if not isinstance(data, list):
        return {"default": data}
    groups: dict[str, list[Any]] = {}
    for item in data:
        groups.setdefault(_key(_get(item, op.field)), []).append(item)
    return groups


def _sort(data: Any, op: Any, ctx: RunContext) -> Any:
    if not isinstance(data, list):
        return data
    present = [item for item in data if _get(item, op.field) is not None]
    absent = [item for item in data if _get(item, op.field) is None]
    try:
        ordered = sorted(present, key=lambda item: _get(item, op.field),
                         reverse=op.order == "desc")
    except TypeError:
        raise TransformError(f"sort: the values of '{op.field}' cannot be compared "
                             f"(mixed types)") from None
    return ordered + absent  # items without the field go last either way


def _select(data: Any, op: Any, ctx: RunContext) -> Any:
    def pick(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        return {field: item[field] for field in op.fields if field in item}

    return [pick(item) for item in data] if isinstance(data, list) else pick(data)


_OPERATIONS = {"filter": _filter, "map": _map, "aggregate": _aggregate, "join": _join,
               "group_by": _group_by, "sort": _sort, "select": _select}
