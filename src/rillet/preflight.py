"""What `rillet run` and `rillet validate` check before anything runs, so a mistake costs
one clear message instead of a run that fails half-way: credentials for the providers a
run will use live, `--input` names the workflow never reads, `--stream` handlers that do
not exist, prompt files that are not there.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from rillet.engine.modes import providers_used
from rillet.workflow.templates import strings_in

# What a person sets for each provider (the SDKs read these; see providers/registry.py).
_CREDENTIAL_HINTS = {
    "claude_agent": "ANTHROPIC_API_KEY (or log the Claude CLI in with `claude login`)",
    "anthropic_api": "ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN",
    "gemini": "GEMINI_API_KEY or GOOGLE_API_KEY",
}
_INPUT_USE = re.compile(r"\binputs(?:\.([A-Za-z_]\w*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")


def did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def missing_credentials(workflow: Any, run_mode: str) -> str | None:
    """One message naming every provider the run would use live without credentials
    (live mode: every provider; mixed: the steps that ask for `mode: live`)."""
    from rillet.providers.registry import has_credentials

    missing: dict[str, None] = {}
    for kind, mode, _ in providers_used(workflow, run_mode):
        if mode == "live" and not has_credentials(kind):
            missing[kind] = None
    if not missing:
        return None
    needs = "; ".join(f"{kind}: set {_CREDENTIAL_HINTS[kind]}" for kind in missing)
    return (f"cannot run live: no credentials for {', '.join(missing)} ({needs}); or run "
            f"with --mode sim to use the built-in simulator")


def input_names(workflow: Any) -> list[str]:
    """The input names the workflow declares or reads (`{{ inputs.NAME }}` anywhere, or
    pipeline_ex's bare `{{ NAME }}`, which an input fills when no variable is set)."""
    from rillet.workflow.templates import bare_names, has_template

    names = dict.fromkeys(getattr(workflow, "inputs", {}) or {})
    data = workflow.model_dump(mode="json")
    text = json.dumps(data, default=str)
    for match in _INPUT_USE.finditer(text):
        names[match.group(1) or match.group(2)] = None
    for value in strings_in(data):
        if has_template(value):
            names.update(dict.fromkeys(bare_names(value)))
    return list(names)


def unknown_inputs(workflow: Any, given: list[str]) -> list[str]:
    known = input_names(workflow)
    problems = []
    for name in given:
        if name not in known:
            uses = f"it reads: {', '.join(known)}" if known else "it reads no inputs"
            problems.append(f"--input {name}: workflow '{workflow.name}' never uses "
                            f"inputs.{name} ({uses}){did_you_mean(name, known)}")
    return problems


def unknown_handlers(names: list[str]) -> list[str]:
    from rillet.streaming.handler import handler_names, resolve

    problems = []
    for name in names:
        try:
            resolve(name)
        except LookupError as exc:
            problems.append(f"--stream {name}: {exc}{did_you_mean(name, handler_names())}")
    return problems


def missing_prompt_files(path: Path, workflow: Any = None) -> list[str]:
    """The problems of `check_prompt_files` (see there)."""
    return check_prompt_files(path, workflow)[0]


def check_prompt_files(path: Path, workflow: Any = None) -> tuple[list[str], list[str]]:
    """Problems and notes for the prompt parts `type: file` whose path is fixed (no
    template), each as `file:line: ...`. A path is looked up as a run looks it up: beside
    the workflow file, then in the current folder. A missing file in a folder the run
    writes into (the workspace, the output folder, an earlier step's `output_to_file`) may
    appear during the run: a note, not a problem. Only existence is checked."""
    from rillet.steps.prompt_files import locate, made_during_run

    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return [], []  # the loader reports an unreadable file
    folders = _run_folders(workflow)
    problems, notes = [], []
    for node in _file_parts(root):
        target = node.value
        if "{{" in target or "{%" in target:
            continue  # known only when the run renders it
        found = locate(target, path.resolve().parent)
        if found.path.is_file():
            continue
        where = f"{path}:{node.start_mark.line + 1}"
        if any(made_during_run(place, folders) for place in found.looked):
            notes.append(f"{where}: prompt file '{target}' does not exist yet; it lies in a "
                         f"folder the run writes into, so it is read when its step runs")
        elif found.found:
            problems.append(f"{where}: prompt file '{target}' is not a regular file "
                            f"({found.path})")
        else:
            problems.append(f"{where}: {found.missing_message(target)}")
    return problems, notes


def _run_folders(workflow: Any) -> list[Path]:
    """The folders a run of `workflow` from here writes into, as validate can know them."""
    if workflow is None:
        return []
    folders = [Path(workflow.workspace_dir), Path(workflow.defaults.output_dir)]
    return [folder.expanduser() for folder in folders]


def _file_parts(node: Any) -> Iterator[yaml.ScalarNode]:
    """The `path` scalar of every mapping with `type: file` inside a `prompt` list."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "prompt" and isinstance(value, yaml.SequenceNode):
                for part in value.value:
                    fields = {k.value: v for k, v in getattr(part, "value", [])
                              if isinstance(part, yaml.MappingNode)}
                    kind, where = fields.get("type"), fields.get("path")
                    if getattr(kind, "value", None) == "file" and \
                            isinstance(where, yaml.ScalarNode):
                        yield where
            else:
                yield from _file_parts(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _file_parts(item)
