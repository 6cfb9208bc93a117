"""Tables of keys in the documentation, and the keys the code really has.

A table that documents keys is preceded by a marker `<!-- keys: KIND:TARGET -->`:

- `schema:A,B`       models of the workflow JSON Schema (`$defs[A]`, ...; `#` is the root).
                     Each documented key must be a key of one of them, and every key of
                     every model must be in some table that names that model.
- `handler:NAME`     a stream handler's options model
- `model:DOTTED`     any pydantic model, e.g. `model:rillet.sim.script.Reply`
- `dataclass:DOTTED` a dataclass's fields, e.g. `dataclass:rillet.engine.executor.RunOptions`
- `names:DOTTED`     a collection of names, e.g. `names:rillet.providers.anthropic_api.OPTION_KEYS`
- `metrics:`         the keys of a step's `metrics`
- `events:`          the event types (first column) and their fields (second column)
- `handlers:`        the built-in handlers (first column) and their options (second column)

The first column of each row holds one or more keys in backticks. When the table has a
`Default` column and its cell is a single backticked value or the word `none`, the default
is compared with the code's too.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_MARKER = re.compile(r"^\s*<!--\s*keys:\s*(?P<kind>[a-z]+):(?P<target>\S*)\s*-->\s*$")
_CODE = re.compile(r"`([^`]+)`")


@dataclass
class KeyTable:
    path: Path
    line: int
    kind: str
    target: str
    rows: list[list[str]] = field(default_factory=list)  # cells, header row excluded
    header: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}:{self.kind}:{self.target}"

    def keys(self) -> dict[str, list[str]]:
        """Documented key -> its row."""
        found: dict[str, list[str]] = {}
        for row in self.rows:
            for key in _CODE.findall(row[0]):
                found[key] = row
        return found

    def column(self, name: str) -> int | None:
        lowered = [h.strip().lower() for h in self.header]
        return lowered.index(name) if name in lowered else None


def _cells(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|"):
        body = body[:-1]
    # A `|` inside backticks is part of a value, not a cell border.
    cells, current, in_code = [], "", False
    for char in body:
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(current.strip())
            current = ""
        else:
            current += char
    cells.append(current.strip())
    return cells


def key_tables(path: Path) -> list[KeyTable]:
    lines = path.read_text(encoding="utf-8").splitlines()
    tables: list[KeyTable] = []
    for index, line in enumerate(lines):
        match = _MARKER.match(line)
        if not match:
            continue
        table = KeyTable(path, index + 1, match["kind"], match["target"])
        row = index + 1
        while row < len(lines) and not lines[row].strip():
            row += 1
        if row >= len(lines) or not lines[row].lstrip().startswith("|"):
            raise ValueError(f"{path}:{index + 1}: a keys marker must be followed by a table")
        table.header = _cells(lines[row])
        row += 2  # the header and its |---| line
        while row < len(lines) and lines[row].lstrip().startswith("|"):
            table.rows.append(_cells(lines[row]))
            row += 1
        tables.append(table)
    return tables


# --- what the code has --------------------------------------------------------------------


def _import(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


_UNSET = object()


def real_keys(kind: str, target: str) -> dict[str, Any]:
    """Key -> default (`_UNSET` when it has none worth comparing)."""
    if kind == "schema":
        from rillet.workflow.loader import json_schema

        schema = json_schema()
        keys: dict[str, Any] = {}
        for name in target.split(","):
            node = schema if name == "#" else schema.get("$defs", {}).get(name)
            if node is None:
                raise KeyError(f"no model '{name}' in the workflow JSON Schema; models: "
                               f"{', '.join(sorted(schema.get('$defs', {})))}")
            for key, prop in node.get("properties", {}).items():
                keys.setdefault(key, prop.get("default", _UNSET))
        return keys
    if kind in ("handler", "model"):
        if kind == "handler":
            from rillet.streaming.handler import resolve

            model = resolve(target).options
        else:
            model = _import(target)
        out = {}
        for name, info in model.model_fields.items():
            key = info.alias or name
            out[key] = _UNSET if info.is_required() or info.default_factory else info.default
        return out
    if kind == "dataclass":
        return {f.name: (f.default if f.default is not dataclasses.MISSING else _UNSET)
                for f in dataclasses.fields(_import(target))}
    if kind == "names":
        return dict.fromkeys(_import(target), _UNSET)
    if kind == "metrics":
        from rillet.streaming.metrics import StreamMetrics

        return dict.fromkeys(StreamMetrics().to_dict(), _UNSET)
    if kind == "events":
        from rillet import events

        return {name: tuple(f.name for f in dataclasses.fields(value) if f.name != "step")
                for name, value in vars(events).items()
                if isinstance(value, type) and issubclass(value, events.Event)
                and value is not events.Event}
    if kind == "handlers":
        from rillet.streaming.handler import handler_names, resolve

        return {name: tuple(resolve(name).options.model_fields) for name in handler_names()}
    raise ValueError(f"unknown keys kind '{kind}'")


def show_default(value: Any) -> str:
    """A default as the documentation writes it."""
    if value is None:
        return "none"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_default(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show_default(v)}" for k, v in value.items()) + "}"
    return str(value)


def documented_default(cell: str) -> str | None:
    """The default a cell states, or None when it is prose (not compared)."""
    text = cell.strip()
    if text.lower() == "none":
        return "none"
    codes = _CODE.findall(text)
    if len(codes) == 1 and text == f"`{codes[0]}`":
        return codes[0]
    return None


UNSET = _UNSET
