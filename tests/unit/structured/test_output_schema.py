"""output_schema: inline, from a file or a pydantic model; checked, and sampled."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from rillet.errors import WorkflowError
from rillet.structured.sample import sample
from rillet.structured.schema import OutputSchemaError, resolve
from rillet.workflow.loader import load_workflow, loads_workflow

VERDICT = {"type": "object", "required": ["severity", "reasons"],
           "properties": {"severity": {"enum": ["low", "medium", "high"]},
                          "reasons": {"type": "array", "items": {"type": "string"},
                                      "minItems": 1}}}


def flow(schema_yaml: str) -> str:
    return textwrap.dedent(f"""\
        workflow:
          name: t
          steps:
            - name: verdict
              type: claude
              prompt: judge
              output_schema: {schema_yaml}
        """)


def test_an_inline_schema_that_is_not_json_schema_is_refused_with_its_line():
    with pytest.raises(WorkflowError) as error:
        loads_workflow(flow("{type: object, properties: {a: {type: colour}}}"), "f.yaml")
    assert "f.yaml:7: steps[0].output_schema" in str(error.value)
    assert "output_schema" in str(error.value) and "not a valid JSON Schema" in str(error.value)


def test_a_schema_whose_root_is_not_an_object_is_refused():
    with pytest.raises(WorkflowError, match="root of output_schema must be an object"):
        loads_workflow(flow("{type: array, items: {type: string}}"))


def test_validating_a_workflow_never_imports_its_model(tmp_path: Path):
    (tmp_path / "boom_models.py").write_text("raise SystemExit('imported!')\n")
    path = tmp_path / "flow.yaml"
    path.write_text(flow("boom_models:Verdict"))
    workflow = load_workflow(path)  # what `rillet validate` does
    assert workflow.steps[0].output_schema == "boom_models:Verdict"


def test_a_schema_file_is_read_beside_the_workflow(tmp_path: Path):
    (tmp_path / "verdict.json").write_text(json.dumps(VERDICT))
    (tmp_path / "verdict.yaml").write_text("type: object\nproperties: {a: {type: integer}}\n")
    assert resolve("verdict.json", tmp_path).json_schema == VERDICT
    assert resolve("verdict.yaml", tmp_path).errors({"a": "x"}) == ["a: 'x' is not of type "
                                                                    "'integer'"]


def test_a_missing_or_broken_schema_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(OutputSchemaError, match="cannot be read"):
        resolve("nope.json", tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(OutputSchemaError, match="not valid JSON"):
        resolve("bad.json", tmp_path)


def test_a_pydantic_model_by_dotted_path_validates_with_pydantic(tmp_path: Path, monkeypatch):
    (tmp_path / "verdict_models.py").write_text(textwrap.dedent("""\
        from typing import Literal
        from pydantic import BaseModel

        class Verdict(BaseModel):
            severity: Literal["low", "high"]
            score: int
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    schema = resolve("verdict_models:Verdict", tmp_path)
    assert schema.json_schema["properties"]["severity"]["enum"] == ["low", "high"]
    assert schema.errors({"severity": "high", "score": 3}) == []
    errors = schema.errors({"severity": "urgent", "score": "many"})
    assert errors[0].startswith("severity: Input should be 'low' or 'high'")
    assert errors[1].startswith("score: Input should be a valid integer")


def test_a_dotted_path_to_something_else_is_refused(monkeypatch):
    with pytest.raises(OutputSchemaError, match="not a pydantic model class"):
        resolve("json:dumps", Path("."))
    with pytest.raises(OutputSchemaError, match="cannot be imported"):
        resolve("no_such_module_here:Model", Path("."))


def test_errors_name_the_path_of_each_problem():
    schema = resolve(VERDICT, Path("."))
    assert schema.errors({"severity": "urgent", "reasons": []}) == [
        "reasons: [] should be non-empty",
        "severity: 'urgent' is not one of ['low', 'medium', 'high']",
    ]


@pytest.mark.parametrize("schema", [
    VERDICT,
    {"type": "object", "properties": {
        "when": {"type": "string", "format": "date-time"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "count": {"type": "integer", "minimum": 3, "maximum": 5},
        "flag": {"type": "boolean"}, "maybe": {"anyOf": [{"type": "null"}, {"type": "string"}]},
        "name": {"type": "string", "minLength": 30, "maxLength": 40},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 4}}},
    {"$defs": {"F": {"type": "object", "properties": {"title": {"type": "string"}},
                     "required": ["title"]}},
     "type": "object", "properties": {"findings": {"type": "array",
                                                   "items": {"$ref": "#/$defs/F"}}},
     "required": ["findings"]},
])
def test_a_sampled_object_fits_its_schema_and_repeats_for_a_seed(schema):
    resolved = resolve(schema, Path("."))
    for seed in range(20):
        value = sample(schema, seed)
        assert resolved.errors(value) == []
        assert sample(schema, seed) == value
