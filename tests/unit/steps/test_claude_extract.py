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


def test_trim_strips_the_content_and_validate_changes_no_text():
    from rillet.result import StepResult
    from rillet.steps.claude_extract import finish_result

    class Step:
        extraction_config = config(format="structured", post_processing=["trim", "validate"])

    result = StepResult(step="e", text="", output={"content": "  The answer is 42\n\n"})
    done = finish_result(Step(), result)
    assert done.text == "## Extracted Content\n\nThe answer is 42"
    assert done.output["content"] == "The answer is 42"
    assert "trim" not in extraction_schema(Step.extraction_config)["properties"]


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
    ("output_schema: {type: object}", "claude_extract asks for its own object"),
    ("extraction_config: {post_processing: [strip]}",
     "post_processing 'strip' is not supported: pipeline_ex knew no such operation"),
    ("extraction_config: {format: json, post_processing: [format_markdown]}",
     "format_markdown shapes markdown text"),
])
def test_keys_with_no_meaning_for_an_extract_step_are_refused(keys, message):
    text = f"workflow:\n  name: x\n  steps:\n    - name: e\n      type: claude_extract\n" \
           f"      prompt: go\n      {keys}\n"
    with pytest.raises(WorkflowError, match=message):
        loads_workflow(text)


@pytest.mark.parametrize("value", ["true", "false"])
def test_use_content_extractor_is_accepted_as_what_rillet_does_anyway(value):
    text = "workflow:\n  name: x\n  steps:\n    - name: e\n      type: claude_extract\n" \
           f"      prompt: go\n      extraction_config: {{use_content_extractor: {value}}}\n"
    step, = loads_workflow(text).steps
    assert step.extraction_config.use_content_extractor is (value == "true")


def test_format_markdown_heads_a_text_that_has_no_heading_and_leaves_one_that_has():
    cfg = config(post_processing=["format_markdown"])
    assert shaped_text(OBJECT, OBJECT["content"], cfg) == \
        "# Content\n\nThe cache lock is taken twice."
    titled = {"content": "# Locks\nTaken twice."}
    assert shaped_text(titled, titled["content"], cfg) == "# Locks\nTaken twice."


def test_generate_summary_adds_the_first_three_sentences_cut_at_200_characters():
    from rillet.steps.claude_extract import summary_of

    assert summary_of("One. Two. Three. Four.") == "One. Two. Three"
    long = "word " * 100
    assert summary_of(long) == long[:197] + "..." and len(summary_of(long)) == 200
    cfg = config(post_processing=["extract_key_points", "generate_summary"])
    assert shaped_text(OBJECT, OBJECT["content"], cfg).endswith(
        "- load() locks again\n\n## Generated Summary\nThe cache lock is taken twice.")


def test_generate_summary_in_json_is_the_object_s_summary():
    from rillet.result import StepResult
    from rillet.steps.claude_extract import finish_result

    step, = loads_workflow("workflow:\n  name: x\n  steps:\n    - name: e\n"
                           "      type: claude_extract\n      prompt: go\n"
                           "      extraction_config: {format: json, post_processing: "
                           "[generate_summary]}\n").steps
    done = finish_result(step, StepResult(step="e", output={"content": "A. B. C. D."}))
    assert done.output["summary"] == "A. B. C"
    assert json.loads(done.text) == {"content": "A. B. C. D.", "summary": "A. B. C"}


async def test_extract_with_content_extractor_takes_the_step_s_text(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent("""\
        workflow:
          name: ext
          steps:
            - {name: a, type: echo, value: the earlier text}
            - name: e
              type: claude
              prompt:
                - {type: previous_response, step: a, extract_with: content_extractor}
        """))
    script = Script.model_validate({"rules": [{"match": "the earlier text", "text": "seen",
                                               "timing": {"pattern": "fast"}}]})
    result = await rillet.run_async(path, mode="mock", script=script,
                                    output_dir=tmp_path / "out", workspace_dir=tmp_path / "w")
    assert result.success, result.error
    assert result["e"].text == "seen"
    with pytest.raises(WorkflowError, match="content_extractor"):
        loads_workflow(path.read_text().replace("extract_with: content_extractor",
                                                "extract_with: regex"))
