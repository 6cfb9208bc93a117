"""Load a workflow file: YAML -> typed models -> checks -> defaults applied.

Every problem is collected (not only the first) and raised together as a WorkflowError,
one line each: `<file>:<line>: <key.path>: <message>`.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from rillet import user_code
from rillet.errors import WorkflowError
from rillet.workflow import compat
from rillet.workflow.checks import check_workflow
from rillet.workflow.defaults import allow_skills, apply_defaults, context_management
from rillet.workflow.problems import Problems, did_you_mean
from rillet.workflow.schema import Step, Workflow, WorkflowFile
from rillet.workflow.yaml_limits import check_yaml

def load_workflow(path: str | Path) -> Workflow:
    """Read and check a workflow file. Raises WorkflowError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkflowError([f"{path}: cannot read the workflow: {exc.strerror or exc}"]) \
            from None
    except UnicodeDecodeError as exc:
        raise WorkflowError([f"{path}: not UTF-8 text ({exc.reason})"]) from None
    with user_code.checking(path.resolve().parent):  # handler modules beside it: read, not run
        workflow = loads_workflow(text, source=str(path))
    workflow._source_path = str(path.resolve())
    return workflow


def loads_workflow(text: str, source: str = "<string>") -> Workflow:
    """Like `load_workflow` for YAML text; `source` names it in error messages. Relative
    prompt files are read from the current folder (no source_path)."""
    with user_code.checking():  # validating runs none of the code the workflow names
        return _loads(text, source)


def _loads(text: str, source: str) -> Workflow:
    problems = Problems(source)
    data, root = _parse(text, problems)
    problems.root = root
    _duplicate_keys(root, (), problems)
    workflow = _validate(data, problems)
    if problems or workflow is None:
        raise WorkflowError(problems.lines())
    workflow._notes = list(problems.notes)
    return workflow


def workflow_from_data(data: dict[str, Any], source: str) -> Workflow:
    """A workflow given as data (a nested pipeline written inline), checked like a file;
    `source` names it in error messages."""
    problems = Problems(source)
    data = copy.deepcopy(data)
    workflow = _validate(data if "workflow" in data else {"workflow": data}, problems)
    if problems or workflow is None:
        raise WorkflowError(problems.lines())
    return workflow


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a workflow file (top-level key `workflow`), for editors."""
    return copy.deepcopy(_json_schema())  # callers may change their copy


@lru_cache(maxsize=1)
def _json_schema() -> dict[str, Any]:
    schema = WorkflowFile.model_json_schema()
    schema["title"] = "rillet workflow"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


# --- YAML -----------------------------------------------------------------------------------------


def _parse(text: str, problems: Problems) -> tuple[Any, yaml.Node | None]:
    if not check_yaml(text, problems):  # alias bombs, deep nesting, forbidden characters
        raise WorkflowError(problems.lines())
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        where = f", column {mark.column + 1}" if mark is not None else ""
        context = f" ({exc.context})" if exc.context else ""
        problems.add_raw(line, f"invalid YAML{where}: {exc.problem}{context}"
                               f"{_indentation_hint(exc, line)}")
        raise WorkflowError(problems.lines()) from None
    except yaml.YAMLError as exc:
        problems.add_raw(None, f"invalid YAML: {exc}")
        raise WorkflowError(problems.lines()) from None
    finally:
        loader.dispose()
    return data, root


# What PyYAML says when a line is indented more or less than its neighbours.
_INDENTATION_PROBLEMS = ("expected <block end>", "mapping values are not allowed here",
                         "could not find expected ':'", "did not find expected key",
                         "did not find expected '-' indicator")


def _indentation_hint(exc: yaml.MarkedYAMLError, line: int | None) -> str:
    problem = exc.problem or ""
    if "\t" in problem or "'\\t'" in problem:
        return ". YAML does not allow tabs for indentation: indent with spaces"
    if line is None or not problem.startswith(_INDENTATION_PROBLEMS):
        return ""
    return (f". Most likely line {line} is indented differently from the lines around it: "
            f"keys of the same block start in the same column, and a step's keys in the "
            f"column of its 'name:'")


def _duplicate_keys(node: yaml.Node | None, loc: tuple[Any, ...], problems: Problems) -> None:
    """YAML keeps the last of two equal keys without a word; here it is an error."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                    key_node, yaml.ScalarNode):
                continue
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in seen:
                problems.add(loc + (key,), f"duplicate key (first at line {seen[key]}); "
                             f"keep one", line=line)
            else:
                seen[key] = line
            _duplicate_keys(value_node, loc + (key,), problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _duplicate_keys(item, loc + (index,), problems)


# --- validation -----------------------------------------------------------------------------------

_STEP = TypeAdapter(Step)


def _validate(data: Any, problems: Problems) -> Workflow | None:
    if not isinstance(data, dict) or not isinstance(data.get("workflow"), dict):
        if data is None:
            problems.add_raw(1, "the file is empty; a workflow file starts with 'workflow:'")
            return None
        if not isinstance(data, dict):
            problems.add_raw(1, "a workflow file is a mapping with one key, 'workflow'")
            return None
        if "workflow" not in data and did_you_mean("workflow", map(str, data)) is None:
            keys = ", ".join(map(str, list(data)[:4]))
            problems.add_raw(1, f"there is no top-level 'workflow:' key (found: {keys}); put "
                                f"name, steps and the rest under workflow: (pipeline_ex "
                                f"refuses such a file too)")
            return None
    raw = data.get("workflow")
    raw_steps = raw.get("steps") if isinstance(raw, dict) else None
    if isinstance(raw, dict):
        compat.normalize(raw, problems)
    if not isinstance(raw_steps, list) or not raw_steps:
        _validate_file(data, problems)
        if raw_steps == []:
            problems.add(("workflow", "steps"), "a workflow needs at least one step")
        return None
    shell = _validate_file({**data, "workflow": {**raw, "steps": []}}, problems)
    steps: list[Any] = []
    for index, raw_step in enumerate(raw_steps):
        try:
            steps.append(_STEP.validate_python(raw_step))
        except ValidationError as exc:
            problems.add_validation_errors(exc.errors(), Step, ("workflow", "steps", index))
            steps.append(None)
    defaults = shell.workflow.defaults if shell else None
    global_vars = raw.get("global_vars") if isinstance(raw.get("global_vars"), dict) else {}
    variables = raw.get("variables") if isinstance(raw.get("variables"), dict) else {}
    check_workflow(defaults, global_vars, steps, raw_steps, problems, variables)
    if shell is not None:  # gemini step functions against workflow.gemini_functions
        for index, problem in shell.workflow.undeclared_functions(steps):
            problems.add(("workflow", "steps", index, "functions"), problem)
        for index, problem in shell.workflow.idle_function_rounds(steps):
            problems.add(("workflow", "steps", index, "max_function_rounds"), problem)
    if problems or shell is None:
        return None
    workflow = shell.workflow
    mode = workflow.environment.mode if workflow.environment else None
    steps = [apply_defaults(step, workflow.defaults, mode) for step in steps]
    if workflow.enable_skills:
        steps = [allow_skills(step) for step in steps]
    if workflow.enable_context_management is not None:
        managed = [context_management(step, workflow.enable_context_management)
                   for step in steps]
        steps = [step for step, _ in managed]
        for _, problem in managed:
            if problem:
                problems.add(("workflow", "enable_context_management"), problem)
        if problems:
            return None
    return workflow.model_copy(update={"steps": steps})


def _validate_file(data: dict[str, Any], problems: Problems) -> WorkflowFile | None:
    try:
        return WorkflowFile.model_validate(data)
    except ValidationError as exc:
        problems.add_validation_errors(exc.errors(), WorkflowFile)
        return None
