"""Checks that need more than one key: step names and references between steps, templates,
conditions, stream handlers and their options, output paths, mock replies.

Everything is checked on the steps as written (before defaults are applied), so a problem
is reported once, at the place where it is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from pydantic import ValidationError

from rillet.workflow import conditions, templates
from rillet.workflow.problems import Loc, Problems, did_you_mean
from rillet.workflow.schema import (
    ClaudeStep, ContainerBase, DataTransformStep, Defaults, EchoStep, FileOpsStep, FilterOp,
    ForLoopStep, GeminiStep, JoinOp, ModelStepBase, ParallelClaudeStep, ParallelStep,
    PipelineStep, SetVariableStep, SwitchStep, WhileLoopStep,
)

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_STEPS: Loc = ("workflow", "steps")
_MAPPING_METHODS = frozenset({"items", "keys", "values", "get"})


@dataclass
class Scope:
    """What a template or condition at one place in the workflow may refer to."""

    all_steps: list[str]
    earlier: set[str] = field(default_factory=set)
    state: set[str] = field(default_factory=set)
    global_vars: set[str] = field(default_factory=set)
    current: str | None = None
    in_loop: bool = False


def check_workflow(defaults: Defaults | None, global_vars: dict[str, Any],
                   steps: list[Any], raw_steps: list[Any], problems: Problems,
                   variables: dict[str, Any] | None = None) -> None:
    """`steps[i]` is the validated step, or None when it did not validate (its problems are
    already in `problems`); `raw_steps[i]` is the data it came from; `variables` is the
    state the run starts with."""
    names = [raw.get("name") if isinstance(raw, dict) else None for raw in raw_steps]
    known = [n for n in names if isinstance(n, str)]
    _check_names(names, problems)
    scope = Scope(all_steps=known, global_vars=set(global_vars),
                  state={str(name) for name in variables or {}})
    for index, (step, raw) in enumerate(zip(steps, raw_steps)):
        scope.current = names[index] if isinstance(names[index], str) else None
        if step is not None:
            _check_step(_STEPS + (index,), step, scope, defaults or Defaults(), problems)
        elif isinstance(raw, dict):
            _check_raw_step(index, raw, scope, problems)
        if scope.current:
            scope.earlier.add(scope.current)
        _remember_variables(raw, scope)
    if defaults is not None:
        everything = Scope(all_steps=known, earlier=set(known), state=scope.state,
                           global_vars=scope.global_vars)
        _check_defaults(defaults, steps, everything, problems)


def _check_names(names: list[Any], problems: Problems, where: Loc = _STEPS) -> None:
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        if not isinstance(name, str):
            continue
        loc = where + (index, "name")
        if not _NAME.fullmatch(name):
            problems.add(loc, f"step name '{name}' may use only letters, digits, _ and - "
                              f"(templates and conditions refer to it as steps.NAME)")
        if name in first:
            problems.add(loc, f"duplicate step name '{name}' (also steps[{first[name]}]); "
                              f"step names must be unique")
        else:
            first[name] = index


def _remember_variables(raw: Any, scope: Scope) -> None:
    if isinstance(raw, dict) and raw.get("type") == "data_transform" \
            and isinstance(raw.get("output_field"), str):
        scope.state.add(raw["output_field"])
    if not isinstance(raw, dict) or raw.get("type") != "set_variable":
        return
    variables = raw.get("variables")
    if isinstance(variables, dict):
        target = scope.global_vars if raw.get("scope") == "global" else scope.state
        target.update(str(k) for k in variables)


# --- one step -----------------------------------------------------------------------------------


def _check_step(loc: Loc, step: Any, scope: Scope, defaults: Defaults,
                problems: Problems) -> None:
    if isinstance(step, ContainerBase):
        _check_container(loc, step, scope, defaults, problems)
        return
    if step.condition is not None:
        check_condition(loc + ("condition",), step.condition, scope, problems)
    for where, text in template_strings(step):
        check_template(loc + where, text, scope, problems)
    if isinstance(step, SetVariableStep):
        if not step.variables:
            problems.add(loc + ("variables",), "needs at least one variable")
        return
    if isinstance(step, DataTransformStep):
        _check_transform(loc, step, scope, problems)
        return
    if isinstance(step, ModelStepBase):
        _check_prompt(loc, step, scope, problems)
        _check_output_file(loc + ("output_to_file",), step.output_to_file, problems)
        if not step.collect_stream:
            problems.add(loc + ("collect_stream",), "cannot be false: rillet always keeps the "
                         "step's text for later steps, output_to_file and the results "
                         "(handlers see every delta either way); remove the key")
        _check_mock(loc, step, problems)
        _check_handlers(loc, step, defaults, problems)


def _check_container(loc: Loc, step: Any, scope: Scope, defaults: Defaults,
                     problems: Problems) -> None:
    """A container's own templates, then each list of its children in a scope of its own:
    names unique in the list; a child sees the names outside and, in a sequence (a loop
    body, a switch case), its earlier siblings; parallel branches do not see each other."""
    looping = isinstance(step, (ForLoopStep, WhileLoopStep))
    own = Scope(scope.all_steps, set(scope.earlier), scope.state, scope.global_vars,
                scope.current, scope.in_loop or looping)
    gate = step.condition if not isinstance(step, WhileLoopStep) else None
    if gate is not None:
        check_condition(loc + ("condition",), gate, scope, problems)
    conditions_here = [("condition", step.condition)] if isinstance(step, WhileLoopStep) else []
    if isinstance(step, ForLoopStep):
        conditions_here += [("break_condition", step.break_condition),
                            ("continue_condition", step.continue_condition)]
        if isinstance(step.data_source, str):
            _check_value(loc + ("data_source",), step.data_source, scope, problems)
    if isinstance(step, SwitchStep):
        _check_value(loc + ("expression",), step.expression, scope, problems)
    for key, expr in conditions_here:
        if expr is not None:
            check_condition(loc + (key,), expr, own, problems)
    if isinstance(step, PipelineStep):
        if step.pipeline is not None:  # an inline pipeline is checked as a file would be
            from rillet.errors import WorkflowError
            from rillet.workflow.loader import workflow_from_data

            try:
                workflow_from_data(step.pipeline, "inline pipeline")
            except WorkflowError as exc:
                for problem in exc.problems:
                    problems.add(loc + ("pipeline",), problem.removeprefix("inline pipeline: "))
        found: list[tuple[Loc, str]] = []
        _strings(step.inputs, loc + ("inputs",), found)
        for where, text in found:
            check_template(where, text, scope, problems)
    sequence = not isinstance(step, (ParallelStep, ParallelClaudeStep))
    for where, children in step.child_lists():
        names = [child.name for child in children]
        _check_names(names, problems, loc + where)
        inner = Scope([*scope.all_steps, *names], set(own.earlier), own.state,
                      own.global_vars, None, own.in_loop)
        for position, child in enumerate(children):
            inner.current = child.name
            _check_step(loc + where + (position,), child, inner, defaults, problems)
            if sequence:
                inner.earlier.add(child.name)
            _remember_variables(child.model_dump(exclude_unset=True), inner)


def _check_value(loc: Loc, text: str, scope: Scope, problems: Problems) -> None:
    """A for_loop's data_source or a switch's expression: a template, or a bare path whose
    step (`steps.NAME.x`, `NAME.x`, `previous_response:NAME`) must have run before."""
    if templates.has_template(text):
        check_template(loc, text, scope, problems)
        return
    text = text.strip()
    if text.startswith("previous_response:"):
        name = text.split(":")[1]
    else:
        root = re.split(r"[.\[]", text, maxsplit=1)[0]
        if root in templates.ROOTS and root != "steps":
            if root == "loop" and not scope.in_loop:
                problems.add(loc, "loop.* exists only inside the steps of a for_loop or "
                                  "while_loop")
            return
        name = re.split(r"[.\[]", text.removeprefix("steps."), maxsplit=1)[0]
    problem = _step_reference(name, scope) if name else None
    if problem:
        problems.add(loc, problem)


def _check_raw_step(index: int, raw: dict[str, Any], scope: Scope,
                    problems: Problems) -> None:
    """A step with schema problems: its condition and prompt text are still checked, so one
    pass reports as much as it can."""
    loc = _STEPS + (index,)
    if isinstance(raw.get("condition"), (str, list, dict)):
        check_condition(loc + ("condition",), raw["condition"], scope, problems)
    prompt = raw.get("prompt")
    parts = [prompt] if isinstance(prompt, str) else prompt if isinstance(prompt, list) else []
    for j, part in enumerate(parts):
        text = part if isinstance(part, str) else \
            part.get("content") if isinstance(part, dict) else None
        if isinstance(text, str):
            check_template(loc + ("prompt", j, "content"), text, scope, problems)
    operations = raw.get("operations") if raw.get("type") == "data_transform" else None
    for j, op in enumerate(operations if isinstance(operations, list) else []):
        if isinstance(op, dict) and op.get("operation") == "filter" \
                and isinstance(op.get("condition"), str):
            try:
                conditions.check_item(op["condition"])
            except conditions.ConditionError as exc:
                problems.add(loc + ("operations", j, "condition"), str(exc))


def template_strings(step: Any) -> list[tuple[Loc, str]]:
    """Every value of the step that is rendered as a template when it runs."""
    found: list[tuple[Loc, str]] = []
    if isinstance(step, SetVariableStep):
        _strings(step.variables, ("variables",), found)
        return found
    if isinstance(step, EchoStep):
        _strings(step.value, ("value",), found)
        return found
    if isinstance(step, DataTransformStep):
        sources = [(("input_source",), step.input_source)] + [
            (("operations", i, "right_source"), op.right_source)
            for i, op in enumerate(step.operations) if isinstance(op, JoinOp)]
        return [(where, text) for where, text in sources if templates.has_template(text)]
    if isinstance(step, FileOpsStep):
        for key in ("source", "destination", "path"):
            if getattr(step, key):
                found.append(((key,), getattr(step, key)))
        for i, check in enumerate(step.files or []):
            found.append((("files", i, "path"), check.path))
        return found
    if not isinstance(step, ModelStepBase):
        return found  # a step type this module does not know holds no templates here
    for at, prompt in _prompts(step):
        for j, part in enumerate(prompt):
            if part.type == "static":
                found.append((at + (j, "content"), part.content))
            elif part.type == "file":
                found.append((at + (j, "path"), part.path))
    if step.output_to_file:
        found.append((("output_to_file",), step.output_to_file))
    if step.model:
        found.append((("model",), step.model))
    if isinstance(step, ClaudeStep):
        _strings(step.claude_options.model_dump(exclude_unset=True), ("claude_options",), found)
    if isinstance(step, GeminiStep) and step.system_instruction:
        found.append((("system_instruction",), step.system_instruction))
    return found


def _strings(value: Any, loc: Loc, found: list[tuple[Loc, str]]) -> None:
    if isinstance(value, str):
        found.append((loc, value))
    elif isinstance(value, dict):
        for key, item in value.items():
            _strings(item, loc + (key,), found)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            _strings(item, loc + (position,), found)


def _check_transform(loc: Loc, step: DataTransformStep, scope: Scope,
                     problems: Problems) -> None:
    sources = [(loc + ("input_source",), step.input_source)]
    for i, op in enumerate(step.operations):
        where = loc + ("operations", i)
        if isinstance(op, FilterOp):
            try:
                conditions.check_item(op.condition)
            except conditions.ConditionError as exc:
                problems.add(where + ("condition",), str(exc))
        elif isinstance(op, JoinOp):
            sources.append((where + ("right_source",), op.right_source))
    for where, source in sources:
        if source.startswith("previous_response:"):
            name = source.removeprefix("previous_response:").replace(":", ".", 1) \
                .partition(".")[0]
            problem = _reference("previous_response", name, scope)
            if problem:
                problems.add(where, problem)
        elif not templates.has_template(source) and source not in scope.state \
                and source not in scope.global_vars:
            problems.add(where, f"'{source}' is neither previous_response:STEP, a template, "
                         f"nor a variable an earlier step or global_vars sets")


def _prompts(step: Any) -> list[tuple[Loc, Any]]:
    """Where each prompt of a step is: its own, or each turn's of a conversation."""
    turns = getattr(step, "conversation", None)
    if turns is not None:
        return [(("conversation", i, "prompt"), turn.prompt) for i, turn in enumerate(turns)]
    return [(("prompt",), step.prompt)]


def _check_prompt(loc: Loc, step: Any, scope: Scope, problems: Problems) -> None:
    for at, prompt in _prompts(step):
        _check_one_prompt(loc + at, prompt, scope, problems)


def _check_one_prompt(loc: Loc, prompt: Any, scope: Scope, problems: Problems) -> None:
    if not prompt:
        problems.add(loc, "needs at least one part")
    for j, part in enumerate(prompt):
        if part.type != "previous_response":
            continue
        where = loc + (j, "step")
        problem = _step_reference(re.split(r"[.\[]", part.step, maxsplit=1)[0], scope)
        if problem:
            problems.add(where, f"previous_response: {problem}")


def _check_output_file(loc: Loc, path: str | None, problems: Problems) -> None:
    if path is None:
        return
    if not path.strip():
        problems.add(loc, "is empty; give a file name or remove the key")
    elif PurePosixPath(path).is_absolute() or PureWindowsPath(path).is_absolute() \
            or ".." in PurePosixPath(path.replace("\\", "/")).parts:
        problems.add(loc, f"'{path}' must be a relative path inside the output directory "
                          f"(no leading / and no ..)")


def _check_mock(loc: Loc, step: Any, problems: Problems) -> None:
    if step.mock is None:
        return
    from rillet.sim.script import Reply, validate_reply

    try:
        validate_reply(step.mock)
    except ValidationError as exc:
        problems.add_validation_errors(exc.errors(), Reply, loc + ("mock",))


# --- templates and conditions -------------------------------------------------------------------


def check_template(loc: Loc, text: str, scope: Scope, problems: Problems) -> None:
    try:
        references = templates.check(text)
    except templates.TemplateError as exc:
        problems.add(loc, str(exc))
        return
    for root, key in references:
        problem = _reference(root, key, scope)
        if problem:
            problems.add(loc, f"template: {problem}")


def check_condition(loc: Loc, spec: Any, scope: Scope, problems: Problems) -> None:
    """A condition string, or an and/or/not mapping or list of them (each part checked
    at its own place)."""
    if not isinstance(spec, str):
        try:
            kind, parts = conditions.spec_parts(spec)
        except conditions.ConditionError as exc:
            problems.add(loc, str(exc))
            return
        for position, part in enumerate(parts):
            where = loc + ((position,) if isinstance(spec, list) else
                           (kind,) if kind == "not" else (kind, position))
            check_condition(where, part, scope, problems)
        return
    try:
        parsed = conditions.check(spec)
    except conditions.ConditionError as exc:
        problems.add(loc, str(exc))
        return
    for path in parsed.paths:
        problem = _reference(path[0], path[1] if len(path) > 1 else None, scope)
        if problem:
            problems.add(loc, f"condition: {problem}")


def _reference(root: str, key: str | None, scope: Scope) -> str | None:
    if not templates.known_name(root):
        guess = did_you_mean(root, templates.ROOTS)
        if guess:
            return f"unknown name '{root}'; did you mean {guess}?"
        if root in scope.all_steps:
            return f"'{root}' is a step, not a variable; write steps.{root}.text"
        # A bare variable (pipeline_ex's {{ name }}): state, global_vars or an input,
        # which `--input` may give at run time; looked up when the step runs.
        return None
    if root == "loop" and not scope.in_loop:
        return "loop.* exists only inside the steps of a for_loop or while_loop"
    if key is None or key in _MAPPING_METHODS:  # steps.items(), state.get('x', 0), ...
        return None
    if root == "steps":
        return _step_reference(key, scope)
    if root == "previous_response":
        if key in scope.state and key not in scope.all_steps:
            return None  # the output_field of an earlier data_transform
        problem = _step_reference(key, scope)
        if problem and key not in scope.all_steps:
            problem += " (nor an output_field of an earlier data_transform)"
        return problem and f"previous_response: {problem}"
    if root == "state" and key not in scope.state:
        return _unset("state", key, scope.state, "no earlier set_variable step sets it")
    if root == "global_vars" and key not in scope.global_vars \
            and did_you_mean(key, scope.global_vars):
        # Without a near name it is a parent pipeline's (caller_values notes it and a run
        # without it is refused); with one, most likely a typo.
        return _unset("global_vars", key, scope.global_vars,
                      "it is not in global_vars and no earlier set_variable step "
                      "(scope: global) sets it")
    if root == "workflow" and key not in ("name", "run_id", "environment"):
        return (f"workflow.{key} does not exist (workflow.name, workflow.run_id, "
                f"workflow.environment)")
    return None


def _unset(root: str, key: str, known: set[str], why: str) -> str:
    guess = did_you_mean(key, known)
    hint = f"; did you mean {root}.{guess}?" if guess else ""
    return f"{root}.{key} is never set: {why}{hint}"


def _step_reference(name: str, scope: Scope) -> str | None:
    if name in scope.earlier:
        return None
    if name == scope.current:
        return f"step '{name}' refers to its own result; only earlier steps can be used"
    if name in scope.all_steps:
        return f"step '{name}' runs after this one; only earlier steps can be used"
    guess = did_you_mean(name, scope.all_steps)
    hint = f"; did you mean {guess}?" if guess else ""
    return f"there is no step named '{name}'{hint}"


# --- stream handlers ----------------------------------------------------------------------------


def _handler_problem(name: str) -> str | None:
    from rillet.streaming.handler import handler_names, resolve

    try:
        resolve(name)
    except LookupError as exc:
        if "." in name or ":" in name:
            return str(exc)
        builtin = handler_names()
        guess = did_you_mean(name, builtin)
        hint = f"did you mean {guess}? " if guess else ""
        return (f"unknown stream handler '{name}'; {hint}(built-in: {', '.join(builtin)}; or "
                f"a dotted path to a handler class)")
    return None


def _check_handler_list(loc: Loc, names: list[str] | None, problems: Problems) -> set[str]:
    """The names that resolve."""
    good: set[str] = set()
    for position, name in enumerate(names or []):
        where = loc + (position,)
        if name in good:
            problems.add(where, f"handler '{name}' is listed twice")
            continue
        problem = _handler_problem(name)
        if problem:
            problems.add(where, problem)
        else:
            good.add(name)
    return good


def _check_handlers(loc: Loc, step: Any, defaults: Defaults, problems: Problems) -> None:
    good = _check_handler_list(loc + ("stream_handler",), step.stream_handler, problems)
    listed = step.stream_handler if step.stream_handler is not None \
        else (defaults.stream_handler or [])
    if step.stream_handler is None:
        good = {n for n in listed if _handler_problem(n) is None}
    for name, opts in step.stream_handler_opts.items():
        where = loc + ("stream_handler_opts", name)
        if name not in listed:
            problems.add(where, f"options for handler '{name}', which this step does not "
                         f"stream to (stream_handler: {', '.join(listed) or 'none'}); add it "
                         f"to stream_handler or remove these options")
            continue
        if name not in good:
            continue
        _no_templates(where, opts, problems)
        merged = {**defaults.stream_handler_opts.get(name, {}), **opts}
        _validate_handler_options(where, name, merged, problems,
                                  only=lambda err: err["type"] == "missing"
                                  or (err["loc"] and err["loc"][0] in opts))


def _validate_handler_options(loc: Loc, name: str, opts: dict[str, Any], problems: Problems,
                              only: Any = None) -> None:
    from rillet.streaming.handler import resolve, validate_options

    try:
        validate_options(name, opts)
    except ValidationError as exc:
        errors = [e for e in exc.errors() if only is None or only(e)]
        problems.add_validation_errors(errors, resolve(name).options, loc)
    except (LookupError, ImportError, ValueError, TypeError) as exc:
        problems.add(loc, f"handler '{name}': {exc}")


def _no_templates(loc: Loc, value: Any, problems: Problems) -> None:
    found: list[tuple[Loc, str]] = []
    _strings(value, loc, found)
    for where, text in found:
        if templates.has_template(text):
            problems.add(where, "templates are not filled in in handler options; write the "
                                "value itself")


def _every_step(steps: list[Any]) -> Any:
    """The steps and, at any depth, the children of the containers among them."""
    for step in steps:
        if step is None:
            continue
        yield step
        if isinstance(step, ContainerBase):
            for _, children in step.child_lists():
                yield from _every_step(children)


def _check_defaults(defaults: Defaults, steps: list[Any], scope: Scope,
                    problems: Problems) -> None:
    loc: Loc = ("workflow", "defaults")
    good = _check_handler_list(loc + ("stream_handler",), defaults.stream_handler, problems)
    used: set[str] = set(defaults.stream_handler or [])
    for step in _every_step(steps):
        if isinstance(step, ModelStepBase) and step.stream_handler is not None:
            used.update(step.stream_handler)
    for name, opts in defaults.stream_handler_opts.items():
        where = loc + ("stream_handler_opts", name)
        if name not in used:
            problems.add(where, f"options for handler '{name}', which no step streams to; "
                         f"add it to a stream_handler or remove these options")
            continue
        if name not in good and _handler_problem(name) is not None:
            continue
        _no_templates(where, opts, problems)
        # Steps may add required options (a path) of their own: only what is here is checked.
        _validate_handler_options(where, name, opts, problems,
                                  only=lambda err: err["type"] != "missing")
    found: list[tuple[Loc, str]] = []
    _strings(defaults.claude_options.model_dump(exclude_unset=True),
             loc + ("claude_options",), found)
    if defaults.gemini_model:
        found.append((loc + ("gemini_model",), defaults.gemini_model))
    for where, text in found:
        check_template(where, text, scope, problems)
