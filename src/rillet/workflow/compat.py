"""pipeline_ex's spellings, rewritten to rillet's before the file is validated.

Each rewrite records where the key was written (`Problems.moved`), so an error about the
new place is still told at the line the user wrote. Nothing is dropped without a word:
a key is moved to where rillet reads it, converted (`timeout_ms` -> `timeout_s`), accepted
because it asks for what rillet always does (`print: true`; `print: false`, which changed
nothing in pipeline_ex either, gets a note), or refused with a reason
(rillet.workflow.problems.REFERENCE_HINTS).
"""

from __future__ import annotations

from typing import Any

from rillet.workflow.problems import Loc, Problems, key_path

GUIDE = "docs/migration-from-pipeline-ex.md"

# Where pipeline_ex put step options: inside claude_options. They are moved to the step
# (or to defaults), where rillet reads them for every model step.
MOVED_FROM_CLAUDE_OPTIONS = ("async_streaming", "stream_handler", "stream_handler_opts",
                             "stream_buffer_size", "timeout_s", "collect_stream", "verbose",
                             "output_format")
_MOVED_INTO_DEFAULTS = tuple(k for k in MOVED_FROM_CLAUDE_OPTIONS if k != "collect_stream")
_MOVED_INTO_TASKS = ("verbose", "output_format")  # the step keys a claude_batch task takes

# pipeline_ex's other names for a step option: (its key, rillet's). debug_mode added the
# list of the CLI's message types to the result; rillet's verbose shows those messages (tool
# calls, thinking) as they stream, and results.json keeps every event.
RENAMED_IN_CLAUDE_OPTIONS = (("debug_mode", "verbose"),)

# Steps whose `options:` rillet reads as claude_options (the Claude Agent SDK's).
OPTIONS_ALIAS_STEPS = ("claude", "claude_smart", "claude_robust", "claude_session",
                       "claude_extract")

# Timeouts in other units: the key and how many of its unit make a second.
TIMEOUT_UNITS = {"timeout_ms": 1000, "timeout_seconds": 1}

# Containers whose own key is timeout_seconds (the whole loop's limit, not a model call's).
OWN_TIMEOUT_SECONDS = ("while_loop",)

# Options that ask for what rillet always does: true is accepted, false cannot be honoured.
ALWAYS_ON = {
    "pass_through_streaming": "rillet always streams a step's text on to the handlers and "
                              "the next step",
    # pipeline_ex added these figures to the response; rillet records them for every step.
    "cost_tracking": "rillet always records each step's cost (cost_usd in results.json)",
    "telemetry_enabled": "rillet always records each step's duration, turns and tokens "
                         "(metrics in results.json); OpenTelemetry spans are the "
                         "workflow's `telemetry`",
}

# Options whose false value changed nothing in pipeline_ex either: accepted, with a note.
# `print`: no code of pipeline_ex read it, and its Claude SDK ran the CLI with --print
# (non-interactive) whatever it said, as rillet's does.
NO_EFFECT_WHEN_FALSE = {
    "print": "print: false changes nothing: the Claude CLI always runs non-interactively "
             "(--print), in rillet as in pipeline_ex, whose code never read this key",
}

# Where a step's `schema:` sketch goes, as a JSON Schema (rillet.workflow.sketch), by step
# type: claude_extract's content, or the step's structured output.
SKETCH_TARGETS = {"claude_extract": ("extraction_config", "content_schema"),
                  **{kind: ("output_schema",) for kind in (
                      "claude", "claude_smart", "claude_robust", "claude_session", "gemini",
                      "gemini_instructor")}}

# Workflow-level Agent SDK keys: every Claude step gets them (pipeline_ex read hooks only
# under claude_options and memory_config nowhere; rillet gives both to every step).
WORKFLOW_CLAUDE_OPTIONS = ("mcp_servers", "setting_sources", "agents", "hooks",
                           "memory_config")


def normalize(raw: dict[str, Any], problems: Problems, loc: Loc = ("workflow",)) -> None:
    """Rewrite `raw` (the mapping under `workflow:`, or an inline pipeline at `loc`) in
    place."""
    _rename(raw, "input", "inputs", loc, problems)
    defaults = raw.get("defaults")
    for key in WORKFLOW_CLAUDE_OPTIONS:
        if key in raw:
            if not isinstance(defaults, dict):
                defaults = raw["defaults"] = {} if defaults is None else defaults
            if isinstance(defaults, dict):
                _into_defaults(raw, defaults, key, loc, problems)
    if isinstance(defaults, dict):
        where = loc + ("defaults",)
        if "claude_output_format" in defaults:
            _rename(defaults, "claude_output_format", "output_format", where, problems)
        _from_claude_options(defaults, where, _MOVED_INTO_DEFAULTS, problems)
    steps = raw.get("steps")
    if isinstance(steps, list):
        _normalize_steps(steps, loc + ("steps",), problems)


def _normalize_steps(steps: list[Any], loc: Loc, problems: Problems) -> None:
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        where = loc + (index,)
        if step.get("type") not in OWN_TIMEOUT_SECONDS:
            _timeouts(step, where, problems)
        if step.get("type") == "claude_extract" and isinstance(step.get("extraction_config"),
                                                                dict):
            _extraction_config(step["extraction_config"], where + ("extraction_config",),
                               problems)
        if step.get("type") in OPTIONS_ALIAS_STEPS and "options" in step:
            _options_as_claude_options(step, where, problems)
        if step.get("type") == "claude_session" and isinstance(step.get("conversation"), list):
            for i, turn in enumerate(step["conversation"]):  # a turn's own claude_options
                if isinstance(turn, dict):
                    _from_claude_options(turn, where + ("conversation", i), _MOVED_INTO_TASKS,
                                         problems)
        _from_claude_options(step, where, MOVED_FROM_CLAUDE_OPTIONS, problems)
        if step.get("type") == "claude_batch" and isinstance(step.get("tasks"), list):
            for i, task in enumerate(step["tasks"]):  # a task's own claude_options
                if isinstance(task, dict):
                    _from_claude_options(task, where + ("tasks", i), _MOVED_INTO_TASKS,
                                         problems)
        _flat_handler_options(step, where, problems)
        _schema_sketch(step, where, problems)
        if step.get("type") == "set_variable" and "variable" in step:
            _one_variable(step, where, problems)
        for key, children in _child_lists(step):
            _normalize_steps(children, where + key, problems)
        inline = step.get("pipeline") if step.get("type") == "pipeline" else None
        if isinstance(inline, dict):  # an inline pipeline: a workflow of its own
            inner = inline.get("workflow", inline)
            if isinstance(inner, dict):
                normalize(inner, problems, where + (("pipeline", "workflow")
                                                    if inner is not inline else ("pipeline",)))


def _options_as_claude_options(step: dict[str, Any], loc: Loc, problems: Problems) -> None:
    """A step's `options:` (read by nothing in pipeline_ex, but plainly Claude options) is
    merged into its claude_options; a key given in both is refused."""
    options = step.pop("options")
    where = loc + ("options",)
    if not isinstance(options, dict):
        problems.add(where, "options are Claude options, a mapping (as claude_options)")
        return
    target = step.setdefault("claude_options", {})
    if not isinstance(target, dict):
        return  # the schema reports the wrong type of claude_options
    for key, value in options.items():
        if key in target:
            problems.add(where + (key,), f"also set as claude_options.{key}; keep one")
            continue
        target[key] = value
        problems.moved[loc + ("claude_options", key)] = where + (key,)
    problems.note(where, f"pipeline_ex ignored a step's options (it read only claude_options); "
                         f"rillet applies them as claude_options (see {GUIDE})")


def _extraction_config(config: dict[str, Any], loc: Loc, problems: Problems) -> None:
    """output_format (read by nothing in pipeline_ex; it takes format's values) is format;
    `validate` asks for what rillet always does, which is said."""
    if "output_format" in config:
        problems.note(loc + ("output_format",), f"pipeline_ex read format, not this key; "
                                                f"rillet reads it as format (see {GUIDE})")
        _rename(config, "output_format", "format", loc, problems)
    operations = config.get("post_processing")
    if isinstance(operations, list) and "validate" in operations:
        problems.note(loc + ("post_processing",), "validate is always met: rillet validates "
                      "the extracted object against its schema (pipeline_ex knew no such "
                      f"operation and left the text as it was) (see {GUIDE})")


def _child_lists(step: dict[str, Any]) -> list[tuple[Loc, list[Any]]]:
    """Every list of child steps a container holds: steps (parallel, loops),
    parallel_tasks (parallel_claude), cases and default (switch)."""
    found: list[tuple[Loc, list[Any]]] = [
        ((key,), step[key]) for key in ("steps", "parallel_tasks", "default")
        if isinstance(step.get(key), list)]
    cases = step.get("cases")
    if isinstance(cases, dict):
        found += [(("cases", case), children) for case, children in cases.items()
                  if isinstance(children, list)]
    return found


def _from_claude_options(holder: dict[str, Any], loc: Loc, keys: tuple[str, ...],
                         problems: Problems) -> None:
    options = holder.get("claude_options")
    if not isinstance(options, dict):
        return
    options_loc = loc + ("claude_options",)
    for key, why in ALWAYS_ON.items():
        if key in options:
            if options.pop(key) is not True:
                problems.add(options_loc + (key,), f"can only be true: {why}; remove it "
                             f"(see {GUIDE})")
    for key, why in NO_EFFECT_WHEN_FALSE.items():
        if key in options:
            value = options.pop(key)
            if value is False:
                problems.note(options_loc + (key,), f"{why} (see {GUIDE})")
            elif value is not True:
                problems.add(options_loc + (key,), f"must be true or false (got {value!r})")
    _timeouts(options, options_loc, problems, into=holder, into_loc=loc)
    for old, new in RENAMED_IN_CLAUDE_OPTIONS:
        if old in options and new in keys:
            _put(holder, new, options.pop(old), loc, options_loc + (old,), problems)
    for key in keys:
        if key in options:
            _put(holder, key, options.pop(key), loc, options_loc + (key,), problems)


def _timeouts(source: dict[str, Any], loc: Loc, problems: Problems, *,
              into: dict[str, Any] | None = None, into_loc: Loc | None = None) -> None:
    """`timeout_ms: 300000` / `timeout_seconds: 300` become `timeout_s: 300`."""
    target = source if into is None else into
    target_loc = loc if into_loc is None else into_loc
    for key, per_second in TIMEOUT_UNITS.items():
        if key not in source:
            continue
        value = source.pop(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = value / per_second
        _put(target, "timeout_s", value, target_loc, loc + (key,), problems)


def _put(holder: dict[str, Any], key: str, value: Any, loc: Loc, old: Loc,
         problems: Problems) -> None:
    if key in holder:
        if holder[key] == value:  # written twice alike (claude_output_format and output_format)
            return
        where = " (rillet reads it at the step level)" if len(loc) > 1 and \
            loc[-2] == "steps" else ""
        problems.add(old, f"also set as {key_path(loc + (key,))}; keep one{where}")
        return
    holder[key] = value
    problems.moved[loc + (key,)] = old


def _schema_sketch(step: dict[str, Any], loc: Loc, problems: Problems) -> None:
    """`schema: {name: string, ...}` (pipeline_ex's sketch of the object a step should give)
    becomes the JSON Schema rillet asks the model to fit."""
    target = SKETCH_TARGETS.get(step.get("type"))  # type: ignore[arg-type]
    if target is None or "schema" not in step:
        return  # other steps: refused, with the reason (problems.REFERENCE_HINTS)
    from rillet.workflow.sketch import SketchError, sketch_to_json_schema

    where = loc + ("schema",)
    sketch = step.pop("schema")
    if not isinstance(sketch, dict) or not sketch:
        problems.add(where, "a schema sketch is a mapping of field names to type names "
                            "(name: string), mappings and one-item lists")
        return
    try:
        converted = sketch_to_json_schema(sketch)
    except SketchError as exc:
        problems.add(where + exc.where, str(exc))
        return
    holder, holder_loc = step, loc
    for key in target[:-1]:
        inner = holder.setdefault(key, {})
        if not isinstance(inner, dict):
            return  # the schema reports the wrong type of this key
        holder, holder_loc = inner, holder_loc + (key,)
    _put(holder, target[-1], converted, holder_loc, where, problems)


def _rename(holder: dict[str, Any], old: str, new: str, loc: Loc, problems: Problems) -> None:
    if old in holder:
        _put(holder, new, holder.pop(old), loc, loc + (old,), problems)


def _into_defaults(raw: dict[str, Any], defaults: dict[str, Any], key: str, loc: Loc,
                   problems: Problems) -> None:
    options = defaults.setdefault("claude_options", {})
    if not isinstance(options, dict):
        return
    _put(options, key, raw.pop(key), loc + ("defaults", "claude_options"), loc + (key,),
         problems)


def _one_variable(step: dict[str, Any], loc: Loc, problems: Problems) -> None:
    """`variable: NAME` with `value: V` (pipeline_ex's docs wrote this form; its step read
    only `variables:`, so it set nothing) is `variables: {NAME: V}`."""
    name = step.pop("variable")
    if "variables" in step:
        problems.add(loc + ("variable",), "give either variables: {NAME: VALUE} or variable: "
                                          "with value:, not both")
        step.pop("value", None)
        return
    if "value" not in step:
        problems.add(loc + ("variable",), "variable: needs value: beside it (or write "
                                          "variables: {NAME: VALUE})")
        step["variables"] = {str(name): None}  # reported once, here, not again as missing
        return
    if not isinstance(name, str) or not name:
        problems.add(loc + ("variable",), "variable: is the name to set, a string")
        step.pop("value")
        step["variables"] = {}
        return
    step["variables"] = {name: step.pop("value")}
    problems.moved[loc + ("variables",)] = loc + ("variable",)
    problems.moved[loc + ("variables", name)] = loc + ("value",)


def _flat_handler_options(step: dict[str, Any], loc: Loc, problems: Problems) -> None:
    """pipeline_ex wrote one handler's options flat (`stream_handler_opts: {show_stats:
    true}`); rillet keys them by handler. A flat mapping goes to the one handler named."""
    opts = step.get("stream_handler_opts")
    if not isinstance(opts, dict) or not opts or all(isinstance(v, dict) for v in opts.values()):
        return
    handlers = step.get("stream_handler")
    names = [handlers] if isinstance(handlers, str) else handlers
    if not isinstance(names, list) or len(names) != 1 or not isinstance(names[0], str):
        problems.add(loc + ("stream_handler_opts",), "options written flat belong to one "
                     "handler, but this step does not name exactly one stream_handler; key "
                     "them by handler: {console: {show_stats: true}}")
        del step["stream_handler_opts"]
        return
    step["stream_handler_opts"] = {names[0]: opts}
    problems.moved[loc + ("stream_handler_opts", names[0])] = loc + ("stream_handler_opts",)
