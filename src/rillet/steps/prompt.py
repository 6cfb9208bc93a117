"""Assemble a model step's prompt from its parts: static text, files, earlier responses."""

from __future__ import annotations

import json
from typing import Any

from rillet.engine.context import RunContext
from rillet.steps.prompt_files import PromptError, find, read_part
from rillet.workflow.templates import render


# pipeline_ex kept an answer in a map, its text under "text" (live Gemini and Claude) or
# "content" (its mocks): on an answer without such a field these extracts name the answer.
TEXT_FIELDS = ("content", "text")


def build_prompt(step: Any, ctx: RunContext) -> str:
    template_ctx = ctx.template_context()
    pieces: list[str] = []
    for part in step.prompt:
        kind = part.type
        if kind == "static":
            pieces.append(render(part.content, template_ctx))
        elif kind == "file":
            target = render(part.path, template_ctx)
            text = ctx.prompt_files.pop(find(target, ctx).path, None)  # read by prefetch
            pieces.append(text if text is not None else read_part(target, ctx)[0])
        elif kind == "previous_response":
            pieces.append(_previous_response(part.step, part.extract, ctx))
        elif kind == "session_context":
            from rillet.sessions import SessionStore, context_text

            name = render(part.session_id, template_ctx)
            session = SessionStore(ctx.workspace_dir).load(name)
            pieces.append(context_text(session, name, part.include_last_n))
        elif kind == "claude_continue":  # the step resumes the session (steps.claude)
            if part.new_prompt:
                pieces.append(render(part.new_prompt, template_ctx))
        else:  # the schema admits no other part; this guards a schema change
            raise PromptError(f"unknown prompt part type '{kind}'")
    return "\n\n".join(pieces)


def _previous_response(step_name: str, extract: str | None, ctx: RunContext) -> str:
    result = ctx.results.get(step_name)
    if result is None and any(mark in step_name for mark in ".["):
        from rillet.engine.scope import find_result  # a container's child: fanout.branch_a

        try:
            result = find_result(ctx.results, step_name)
        except KeyError:
            result = None
    if result is None or not result.success:
        state = "did not run" if result is None else result.status
        raise PromptError(f"the prompt uses the response of step '{step_name}', which {state}")
    if not extract:
        return result.text
    value: Any = result.data
    if extract in TEXT_FIELDS and not (isinstance(value, dict) and extract in value):
        # pipeline_ex's response map held the answer's text under these keys, beside a
        # function call's arguments: the whole answer (a bare function call: its JSON).
        if result.text or value is None:
            return result.text
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        raise PromptError(f"extract '{extract}': the response of step '{step_name}' is "
                          f"text, not JSON; only extract: content or extract: text take "
                          f"a text answer (as the whole text)")
    for key in extract.split("."):
        if isinstance(value, str):
            value = _json_in_text(value)  # a branch's own JSON answer, kept as its text
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise PromptError(f"extract '{extract}': no '{key}' in the JSON response of "
                              f"step '{step_name}'")
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _json_in_text(text: str) -> Any:
    """The JSON object or list a text holds (a container's child answered in JSON), else
    the text itself."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text
