"""`type: claude_extract`: pipeline_ex's extraction step, built on structured output.

The step asks (through `output_schema`) for an object with the extracted `content` and one
list per `post_processing` operation (code blocks, recommendations, links, key points), so
the model does the extracting rather than regular expressions over its prose. When the
object has been validated, `finish_result` shapes the step's text in the chosen `format`:

- `text`: the content; `json`: the whole object as JSON;
- `markdown` / `structured`: the content under a `#` / `##` heading when it has none;
- `summary`: the content cut to `max_summary_length` characters (ending in "...");

then each `post_processing` operation in order, except in `json`: a section per list
("## Key Points Extracted", …), `format_markdown` (a "# Content" heading over a text with
none) and `generate_summary` (a "## Generated Summary" section: the content's first three
sentences, at most 200 characters, as pipeline_ex cut them; in `json` the object's
`summary`). `trim` (which pipeline_ex did not know) strips the whitespace around the
content; `validate` is always met: the object was validated against its schema. The object stays in the result's `output` (with `extraction_metadata` when
`include_metadata` is set). `use_content_extractor` changes nothing: pipeline_ex's
extractor took the text out of the SDK's messages, and rillet's text is the model's own. Its options start from a preset like claude_smart's
(`analysis` unless the step or `defaults.claude_preset` names one).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from rillet.engine.context import RunContext
from rillet.providers.base import ModelRequest
from rillet.result import StepResult
from rillet.steps import claude
from rillet.structured.schema import resolve

provider_kind = claude.provider_kind

LISTS = {  # post_processing operation: (object key, section title, what the model lists)
    "extract_code_blocks": ("code_blocks", "Code Blocks Extracted",
                            "each code block of the content, fenced with ```"),
    "extract_recommendations": ("recommendations", "Recommendations Extracted",
                                "each recommendation or suggestion, one sentence"),
    "extract_links": ("links", "Links Extracted", "each URL the content mentions"),
    "extract_key_points": ("key_points", "Key Points Extracted",
                           "each key point, one line"),
}


def extraction_schema(config: Any) -> dict[str, Any]:
    content = {**config.content_schema} if config.content_schema else {"type": "string"}
    properties: dict[str, Any] = {
        "content": {**content, "description": "the content extracted, as asked"}}
    for operation in config.post_processing:
        if operation in LISTS:
            key, _, what = LISTS[operation]
            properties[key] = {"type": "array", "items": {"type": "string"},
                               "description": what}
    return {"type": "object", "properties": properties, "required": list(properties)}


def build_request(step: Any, ctx: RunContext, mode: str) -> ModelRequest:
    request = claude.build_request(step, ctx, mode)
    request.output_schema = resolve(extraction_schema(step.extraction_config), Path("."))
    return request


def finish_result(step: Any, result: StepResult, ctx: RunContext | None = None,
                  request: ModelRequest | None = None) -> StepResult:
    config = step.extraction_config
    value = dict(result.output or {})
    extracted = value.get("content", "")
    content = extracted if isinstance(extracted, str) else \
        json.dumps(extracted, indent=2, ensure_ascii=False)  # content_schema: an object
    if "trim" in config.post_processing and isinstance(extracted, str):
        content = value["content"] = content.strip()
    if "generate_summary" in config.post_processing:
        value["summary"] = summary_of(content)
    text = shaped_text(value, content, config)
    if config.include_metadata:
        value["extraction_metadata"] = {
            "format": config.format, "post_processing": list(config.post_processing),
            "original_length": len(content), "processed_length": len(text)}
    return dataclasses.replace(result, text=text, output=value)


def summary_of(content: str, limit: int = 200) -> str:
    """pipeline_ex's generate_summary: the first three sentences, at most `limit`
    characters (cut ones end in "...")."""
    summary = ". ".join(content.split(". ")[:3])
    return summary if len(summary) <= limit else summary[:limit - 3] + "..."


def shaped_text(value: dict[str, Any], content: str, config: Any) -> str:
    fmt = config.format
    if fmt == "json":
        return json.dumps(value, indent=2, ensure_ascii=False)
    if fmt == "summary":
        limit = config.max_summary_length
        text = content if len(content) <= limit else content[:limit - 3] + "..."
    elif fmt == "markdown":
        text = content if "#" in content else f"# Extracted Content\n\n{content}"
    elif fmt == "structured":
        text = content if "##" in content else f"## Extracted Content\n\n{content}"
    else:
        text = content
    for operation in config.post_processing:  # in order, each on the text so far
        if operation == "format_markdown":
            text = text if "#" in text else f"# Content\n\n{text}"
        elif operation == "generate_summary":
            text += f"\n\n## Generated Summary\n{value.get('summary') or summary_of(content)}"
        elif operation in LISTS:
            key, title, _ = LISTS[operation]
            items = [str(item) for item in value.get(key) or ()]
            if items:
                lines = "\n\n".join(items) if key == "code_blocks" else \
                    "\n".join(f"- {item}" for item in items)
                text += f"\n\n## {title}\n{lines}"
    return text
