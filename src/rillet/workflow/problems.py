"""Problems found in a workflow file, each told as `<file>:<line>: <key.path>: <message>`.

Locations are tuples of keys and list indexes into the YAML data, e.g.
("workflow", "steps", 0, "claude_options", "max_turns"). Lines come from the YAML node tree;
pydantic error locations are turned into data locations by walking the schema's types
(dropping the tags of tagged unions), which also tells which keys were allowed where a key
is unknown, for the did-you-mean.
"""

from __future__ import annotations

import difflib
import re
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, Discriminator, Tag
from pydantic.fields import FieldInfo

Loc = tuple[Any, ...]

# Keys of the reference system (pipeline_ex) that rillet does not take, and why. Each
# message ends by pointing to the migration guide.
REFERENCE_HINTS = {
    "stream_file_path": "use stream_handler: file with stream_handler_opts: {file: {path: ...}}",
    "functions": "functions (declared in workflow.gemini_functions) are for gemini steps",
    "schema": "pipeline_ex read no step key named schema (its genesis files sketch the "
              "object they want with it); rillet turns the sketch into a JSON Schema for "
              "the model steps (claude, claude_smart, claude_robust, claude_session, "
              "claude_extract, gemini), and this step calls no model",
    "options": "(of a step that calls no Claude model) pipeline_ex read no step key named "
               "options; on a claude step rillet reads them as claude_options",
    "conversation": "(of a step other than claude_session) pipeline_ex read no step key "
                    "named conversation; a claude_session step takes conversation: turns, "
                    "each sent in its session",
}


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def key_path(loc: Loc) -> str:
    if loc and loc[0] == "workflow" and len(loc) > 1:
        loc = loc[1:]
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def line_of(node: yaml.Node | None, loc: Loc) -> int | None:
    """The 1-based line of the key (or item) at `loc`, or of its nearest existing parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in reversed(node.value):  # YAML keeps the last of twins
                if key_node.value == str(part):
                    node, line = value_node, key_node.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


@dataclass
class Problems:
    source: str
    root: yaml.Node | None = None
    # A key the loader moved (claude_options.stream_handler -> stream_handler): errors about
    # the new place are told at the old one.
    moved: dict[Loc, Loc] = field(default_factory=dict)
    found: list[tuple[int, str]] = field(default_factory=list)
    # Keys accepted although they change nothing, each with why (`rillet validate` shows
    # them); never an error.
    notes: list[str] = field(default_factory=list)

    def note(self, loc: Loc, message: str) -> None:
        loc = self._original(tuple(loc))
        line = line_of(self.root, loc)
        where = f"{self.source}:{line}" if line else self.source
        self.notes.append(f"{where}: {key_path(loc)}: {message}")

    def add(self, loc: Loc, message: str, *, line: int | None = None) -> None:
        loc = self._original(tuple(loc))
        if line is None:
            line = line_of(self.root, loc)
        where = f"{self.source}:{line}" if line else self.source
        text = f"{where}: {key_path(loc)}: {message}"
        if all(text != seen for _, seen in self.found):
            self.found.append((line or 0, text))

    def add_raw(self, line: int | None, text: str) -> None:
        where = f"{self.source}:{line}" if line else self.source
        self.found.append((line or 0, f"{where}: {text}"))

    def lines(self) -> list[str]:
        return [text for _, text in sorted(self.found, key=lambda item: item[0])]

    def __bool__(self) -> bool:
        return bool(self.found)

    def _original(self, loc: Loc) -> Loc:
        for _ in range(4):  # a key moved twice (options.timeout_ms -> ... -> timeout_s)
            for new, old in self.moved.items():
                if loc[:len(new)] == new:
                    loc = old + loc[len(new):]
                    break
            else:
                return loc
        return loc

    # -- pydantic -------------------------------------------------------------------------------

    def add_validation_errors(self, errors: list[Any], root_type: Any, prefix: Loc = ()) -> None:
        """pydantic errors of validating data at `prefix` as `root_type`."""
        by_union: dict[Loc, list[str]] = {}
        for error in errors:
            data_loc, holder, via_union = walk(root_type, tuple(error["loc"]))
            loc = prefix + data_loc
            kind = error["type"]
            if kind == "extra_forbidden":
                self.add(loc, unknown_key_message(str(loc[-1]), holder))
            elif kind in ("union_tag_invalid", "union_tag_not_found"):
                self.add(loc + ("type",), _tag_message(error, loc))
            elif kind == "literal_error" and loc[-1:] == ("provider",):
                self.add(loc, f"unknown provider {error['input']!r}; a claude step uses "
                              f"claude_agent (the default) or anthropic_api")
            elif via_union:
                by_union.setdefault(loc, []).append(_message(error))
            else:
                self.add(loc, _message(error))
        for loc, messages in by_union.items():
            unique = list(dict.fromkeys(messages))
            self.add(loc, unique[0] if len(unique) == 1 else "; or ".join(unique))


def unknown_key_message(key: str, holder: type[BaseModel] | None) -> str:
    if key in REFERENCE_HINTS:
        return f"not supported: {REFERENCE_HINTS[key]} (see docs/migration-from-pipeline-ex.md)"
    from rillet.workflow.schema import OPTIONS_OF_PROVIDER

    allowed = list(holder.model_fields) if holder is not None else []
    provider = next((p for p, model in OPTIONS_OF_PROVIDER.items() if model is holder), None)
    if holder is not None and issubclass(holder, tuple(OPTIONS_OF_PROVIDER.values())):
        from rillet.workflow.compat import MOVED_FROM_CLAUDE_OPTIONS

        # Taken here too (compat moves them to the step), so they are listed too.
        allowed += [key for key in MOVED_FROM_CLAUDE_OPTIONS if key not in allowed]
    what = f"unknown option for provider {provider}" if provider else "unknown option"
    for other, model in OPTIONS_OF_PROVIDER.items():
        if provider and other != provider and key in model.model_fields:
            return f"{what}: it is an option of provider {other}; {provider} takes: " \
                   f"{', '.join(allowed)}"
    guess = did_you_mean(key, allowed)
    if guess:
        return f"{what}; did you mean {guess}?"
    return f"{what}; expected one of: {', '.join(allowed)}" if allowed else what


def _tag_message(error: dict[str, Any], loc: Loc) -> str:
    from rillet.workflow.schema import PART_TYPES, STEP_TYPES

    is_step = len(loc) >= 2 and loc[-2] == "steps"
    what, expected = ("step type", STEP_TYPES) if is_step else ("prompt part type", PART_TYPES)
    if error["type"] == "union_tag_not_found":
        return f"missing: every {what.removesuffix(' type')} needs a type " \
               f"({', '.join(expected)})"
    tag = str((error.get("ctx") or {}).get("tag", error.get("input")))
    guess = did_you_mean(tag, expected)
    hint = f"; did you mean {guess}?" if guess else ""
    return f"unknown {what} '{tag}'{hint} ({what}s: {', '.join(expected)})"


_INSTANCE_OF = re.compile(r" or instance of \w+")


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required, but missing"
    if kind == "value_error":
        return str((error.get("ctx") or {}).get("error", error["msg"]))
    message = _INSTANCE_OF.sub("", error["msg"])
    value = error.get("input")
    if isinstance(value, (str, int, float, bool)) or value is None:
        shown = repr(value) if not isinstance(value, str) or len(value) < 60 else \
            repr(value[:57] + "...")
        message += f" (got {shown})"
    elif isinstance(value, list):
        message += " (got a list)"
    elif isinstance(value, dict):
        message += " (got a mapping)"
    return message


# --- walking the schema's types along a pydantic location ---------------------------------------


def walk(root_type: Any, loc: Loc) -> tuple[Loc, type[BaseModel] | None, bool]:
    """(the data location, the model holding the last key, whether the location went
    through a plain union's member label, which is not a key in the data)."""
    data: list[Any] = []
    holder: type[BaseModel] | None = None
    tp: Any = root_type
    index = 0
    while index < len(loc):
        part = loc[index]
        tp, tags, plain_union = _unwrap(tp)
        if tags is not None:  # a tagged union: this part of the location is the tag
            tp = tags.get(part)
            index += 1
            continue
        if plain_union:  # a member label, not a key; nothing precise below it
            return tuple(data), holder, True
        data.append(part)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            holder = tp
            info = tp.model_fields.get(str(part))
            tp = _field_type(info) if info is not None else None
        else:
            origin = typing.get_origin(tp)
            args = typing.get_args(tp)
            if origin is list and args:
                tp = args[0]
            elif origin is dict and len(args) == 2:
                tp = args[1]
            else:
                tp = None
        index += 1
    return tuple(data), holder, False


def _field_type(info: FieldInfo) -> Any:
    if info.discriminator is not None:
        return typing.Annotated[info.annotation, FieldInfo(discriminator=info.discriminator)]
    return info.annotation


def _unwrap(tp: Any) -> tuple[Any, dict[Any, Any] | None, bool]:
    """(the type without Annotated/Optional, the tag -> member map of a tagged union or
    None, whether it is an untagged union of several members)."""
    discriminated = False
    while typing.get_origin(tp) is typing.Annotated:
        base, *meta = typing.get_args(tp)
        discriminated = discriminated or any(
            isinstance(m, Discriminator) or getattr(m, "discriminator", None) for m in meta)
        tp = base
    if typing.get_origin(tp) in (typing.Union, _UnionType):
        members = [m for m in typing.get_args(tp) if m is not type(None)]
        if discriminated:
            return tp, _tags(members), False
        if len(members) == 1:
            return _unwrap(members[0])
        return tp, None, True
    return tp, None, False


def _tags(members: list[Any]) -> dict[Any, Any]:
    tags: dict[Any, Any] = {}
    for member in members:
        base, meta = member, ()
        if typing.get_origin(member) is typing.Annotated:
            base, *meta = typing.get_args(member)  # type: ignore[assignment]
        tag = next((m.tag for m in meta if isinstance(m, Tag)), None)
        if tag is not None:
            tags[tag] = base
        elif isinstance(base, type) and issubclass(base, BaseModel) and "type" in base.model_fields:
            for value in typing.get_args(base.model_fields["type"].annotation):
                tags[value] = base
    return tags


_UnionType = type(int | str)
