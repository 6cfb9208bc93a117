"""Structured output in the simulator and the mock provider: a reply that fits the schema.

The object is the reply's scripted `output` when it has one (a test can script one that
does not fit, to see the repair), else one generated from the schema, the same for the
same prompt. Each wire format carries it its own way: the Messages API and Gemini as JSON
text, the Claude CLI as a call of its StructuredOutput tool.
"""

from __future__ import annotations

import json
from typing import Any

from rillet.sim.script import Reply, ToolCall
from rillet.structured.sample import sample

# The tool the Claude CLI gives the model for structured output (--json-schema).
STRUCTURED_TOOL = "StructuredOutput"


def structured_object(reply: Reply, schema: dict[str, Any]) -> Any:
    if reply.output is not None:
        return reply.output
    return sample(schema, reply.timing.seed or 0)


def as_json_text(reply: Reply, schema: dict[str, Any]) -> Reply:
    """The reply whose text is the object's JSON (Messages API, Gemini)."""
    text = json.dumps(structured_object(reply, schema), ensure_ascii=False)
    return reply.model_copy(update={"text": text, "tool_use": None})


def as_tool_call(reply: Reply, schema: dict[str, Any]) -> Reply:
    """The reply that calls StructuredOutput with the object (the Claude CLI)."""
    call = ToolCall(name=STRUCTURED_TOOL, input=structured_object(reply, schema))
    return reply.model_copy(update={"text": "", "tool_use": call})


# --- what a request asks for ---------------------------------------------------------------


def anthropic_schema(body: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """(the schema a Messages API request asks its answer to follow, whether it comes as
    the StructuredOutput tool) or (None, False)."""
    fmt = (body.get("output_config") or {}).get("format") or {}
    if isinstance(fmt, dict) and isinstance(fmt.get("schema"), dict):
        return fmt["schema"], False
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and tool.get("name") == STRUCTURED_TOOL:
            return tool.get("input_schema") or {"type": "object"}, True
    return None, False


def gemini_functions(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The functions a Gemini request declares: [{name, parameters}]."""
    found = []
    for tool in body.get("tools") or ():
        for declaration in (tool or {}).get("functionDeclarations") or ():
            # google-genai sends its JSON Schema field under its Python name.
            schema = next((declaration[key] for key in ("parameters_json_schema",
                                                        "parametersJsonSchema", "parameters")
                           if isinstance(declaration.get(key), dict)), {"type": "object"})
            found.append({"name": declaration.get("name", ""), "parameters": schema})
    return found


def as_function_call(reply: Reply, functions: list[dict[str, Any]]) -> Reply:
    """A reply to a request with functions: its scripted call, else a call of the first
    function with arguments generated from its parameters."""
    if reply.calls or not functions:
        return reply
    first = functions[0]
    args = reply.output if reply.output is not None else \
        sample(first["parameters"], reply.timing.seed or 0)
    if not isinstance(args, dict):
        args = {}
    return reply.model_copy(update={"tool_use": ToolCall(name=first["name"], input=args)})


def gemini_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    config = body.get("generationConfig") or {}
    for key in ("responseJsonSchema", "responseSchema"):
        if isinstance(config.get(key), dict):
            return config[key]
    return None
