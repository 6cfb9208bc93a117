"""claude_extract: pipeline_ex's extraction formats and post-processing, on structured output."""

from __future__ import annotations

import json
import textwrap

import pytest

import rillet
from rillet.errors import WorkflowError
from rillet.sim.script import Script
from rillet.workflow.schema import ExtractionConfig
from rillet.workflow.loader import loads_workflow
from rillet.steps.claude_extract import extraction_schema, shaped_text

OBJECT = {"content": "The cache lock is taken twice.",
          "key_points": ["refresh() locks", "load() locks again"],
          "links": ["https://example.com/lock"]}


def config(**keys) -> ExtractionConfig:
    return ExtractionConfig.model_validate(keys)


def test_the_schema_asks_for_the_content_and_one_list_per_operation():
    schema = extraction_schema(config(post_processing=["extract_key_points", "extract_links"]))
    assert schema["required"] == ["content", "key_points", "links"]
    assert schema["properties"]["links"]["type"] == "array"


@pytest.mark.parametrize("fmt, expected", [
    ("text", "The cache lock is taken twice."),
    ("markdown", "# Extracted Content\n\nThe cache lock is taken twice."),
    ("structured", "## Extracted Content\n\nThe cache lock is taken twice."),
    ("summary", "The cache lock..."),
])
def test_each_format_shapes_the_content(fmt, expected):
    assert shaped_text(OBJECT, OBJECT["content"], config(format=fmt, max_summary_length=17)) \
        == expected


def test_post_processing_adds_a_section_per_list_and_json_keeps_the_object():
    cfg = config(post_processing=["extract_key_points", "extract_links"])
    assert shaped_text(OBJECT, OBJECT["content"], cfg) == (
        "The cache lock is taken twice.\n\n## Key Points Extracted\n- refresh() locks\n"
        "- load() locks again\n\n## Links Extracted\n- https://example.com/lock")
    as_json = shaped_text(OBJECT, OBJECT["content"], config(format="json"))
    assert json.loads(as_json) == OBJECT


async def test_an_extract_step_streams_the_object_and_returns_the_shaped_text(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent("""\
        workflow:
          name: ext
          steps:
            - name: e
              type: claude_extract
              prompt: "Extract the findings of this review"
              extraction_config:
                format: markdown
                post_processing: [extract_key_points, extract_links]
                include_metadata: true
              output_to_file: findings.md
        """))
    script = Script.model_validate({"rules": [{"match": "findings", "output": OBJECT,
                                               "timing": {"pattern": "fast"}}]})
    result = await rillet.run_async(path, mode="mock", script=script,
                                    output_dir=tmp_path / "out", workspace_dir=tmp_path / "w")

    assert result.success, result.error
    text = result["e"].text
    assert text.startswith("# Extracted Content\n\nThe cache lock is taken twice.")
    assert "## Links Extracted\n- https://example.com/lock" in text
    assert result["e"].output["extraction_metadata"] == {
        "format": "markdown", "post_processing": ["extract_key_points", "extract_links"],
        "original_length": 30, "processed_length": len(text)}
    assert (tmp_path / "out" / "findings.md").read_text() == text
    assert json.loads(result.results_path.read_text())["steps"]["e"]["text"] == text


@pytest.mark.parametrize("keys, message", [
    ("extraction_config: {use_content_extractor: true}", "use_content_extractor is not "
                                                         "supported"),
    ("output_schema: {type: object}", "claude_extract asks for its own object"),
])
def test_keys_with_no_meaning_for_an_extract_step_are_refused(keys, message):
    text = f"workflow:\n  name: x\n  steps:\n    - name: e\n      type: claude_extract\n" \
           f"      prompt: go\n      {keys}\n"
    with pytest.raises(WorkflowError, match=message):
        loads_workflow(text)
