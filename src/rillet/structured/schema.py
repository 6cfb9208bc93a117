"""`output_schema:` resolved into a JSON Schema and a validator.

A step names its schema inline (a mapping), as a file (`.json`, `.yaml`, `.yml`, relative to
the workflow's folder), or as a pydantic model by dotted path (`package.module:Model`).
Importing a model runs its module, so that happens only when the step runs, never when a
workflow is validated. The root must be an object: every provider's mechanism (the Claude
CLI's StructuredOutput tool above all) returns one.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rillet.errors import RilletError

FILE_SUFFIXES = (".json", ".yaml", ".yml")


class OutputSchemaError(RilletError):
    """The schema cannot be read, or the reply does not fit it."""


@dataclass(frozen=True)
class OutputSchema:
    json_schema: dict[str, Any]
    source: str  # how the step named it, for messages
    model: Any = None  # the pydantic model class, when named by dotted path

    def errors(self, value: Any) -> list[str]:
        """What is wrong with `value` against the schema (empty when it fits)."""
        if self.model is not None:
            from pydantic import ValidationError

            try:
                self.model.model_validate(value)
            except ValidationError as exc:
                return [f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
                        for e in exc.errors()]
            return []
        validator = _validator(self.json_schema)
        return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                for e in sorted(validator.iter_errors(value), key=lambda e: list(e.path))]


def is_file_reference(value: str) -> bool:
    return value.endswith(FILE_SUFFIXES) or "/" in value


def check_inline(schema: dict[str, Any]) -> None:
    """Raise ValueError when an inline schema is not a JSON Schema with an object root
    (the workflow schema calls this, so `rillet validate` reports it with its line)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
    if schema.get("type", "object") != "object":
        raise ValueError("the root of output_schema must be an object (type: object)")


def resolve(value: dict[str, Any] | str, base_dir: Path) -> OutputSchema:
    """The step's `output_schema` value as an OutputSchema. Runs the module of a model."""
    if isinstance(value, dict):
        return OutputSchema(value, "inline")
    if is_file_reference(value):
        return _from_file(value, base_dir)
    return _from_model(value)


def _from_file(name: str, base_dir: Path) -> OutputSchema:
    path = Path(name) if Path(name).is_absolute() else base_dir / name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OutputSchemaError(f"output_schema file '{path}' cannot be read: "
                                f"{exc.strerror or exc}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise OutputSchemaError(f"output_schema file '{path}' is not valid "
                                f"{'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    if not isinstance(data, dict):
        raise OutputSchemaError(f"output_schema file '{path}' does not hold a mapping")
    try:
        check_inline(data)
    except ValueError as exc:
        raise OutputSchemaError(f"output_schema file '{path}': {exc}") from None
    return OutputSchema(data, str(path))


def _from_model(dotted: str) -> OutputSchema:
    from pydantic import BaseModel

    module_name, sep, attr = dotted.partition(":")
    if not sep:
        module_name, _, attr = dotted.rpartition(".")
    if not module_name or not attr:
        raise OutputSchemaError(f"output_schema '{dotted}' is neither a file (.json, .yaml) "
                                f"nor a dotted path to a pydantic model (package.module:Model)")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise OutputSchemaError(f"output_schema '{dotted}' cannot be imported: {exc} (is its "
                                f"module beside the workflow or on PYTHONPATH?)") from None
    if not (isinstance(target, type) and issubclass(target, BaseModel)):
        raise OutputSchemaError(f"output_schema '{dotted}' is a {type(target).__name__}, "
                                f"not a pydantic model class")
    return OutputSchema(target.model_json_schema(), dotted, model=target)


_VALIDATORS: dict[str, Any] = {}


def _validator(schema: dict[str, Any]) -> Any:
    from jsonschema import Draft202012Validator

    key = json.dumps(schema, sort_keys=True)
    validator = _VALIDATORS.get(key)
    if validator is None:
        validator = _VALIDATORS[key] = Draft202012Validator(schema)
    return validator


def for_step(step: Any, base_dir: Path) -> OutputSchema | None:
    """The step's OutputSchema, or None when it asks for none."""
    value = getattr(step, "output_schema", None)
    return None if value is None else resolve(value, base_dir)
