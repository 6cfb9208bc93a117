"""What the page gets beyond the events themselves: for each model step, where it runs
(mock, simulator or live); for a step with `output_schema`, its object so far (and at the
end the validated one) as `fields`; for a step that completed, its text as Markdown.

Markdown is parsed here, once per step, by markdown-it-py (CommonMark, tables and
strikethrough) with raw HTML off, and sent as a tree of plain nodes
(`{"tag": "p", "children": ["text", ...]}`) that the page builds with createElement and
text nodes from a fixed list of tags: no HTML is ever parsed in the browser, so nothing in
a model's text can become markup. Links keep only http(s) and mailto targets; images are
not rendered (a model's text must not make the browser fetch anything).

`fields` is the object with each JSON object written as `{"entries": [[key, value], ...]}`:
a browser's JSON.parse puts integer-like keys first, and the page must show the fields in
the order they arrived (the last one is the one still arriving). A PartialOutput whose
object has not changed since the last one sent for its step is not sent again: its
`value` is one object growing in place, so a client that fell behind gets the newest
object once, not every copy of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from rillet.events import Event, StepStarted, event_to_dict

_INDEX = re.compile(r"\[\d+\]$")
_SAFE_LINK = re.compile(r"(https?:|mailto:)", re.IGNORECASE)
_CODE_BLOCKS = {"fence", "code_block"}
_INLINE_TAGS = {"em_open": "em", "strong_open": "strong", "s_open": "s", "link_open": "a"}

Node = dict[str, Any] | str
_NOTHING = object()


@cache
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").enable("strikethrough").disable("image")
    return md


def markdown_tree(text: str) -> list[Node]:
    """The text's Markdown as nodes: a string is text, a dict an element."""
    root: list[Node] = []
    stack: list[list[Node]] = [root]
    for token in _markdown().parse(text):
        if token.type == "inline":
            stack[-1].extend(_inline(token.children or []))
        elif token.type in _CODE_BLOCKS:
            stack[-1].append({"tag": "pre", "children": [{"tag": "code",
                                                          "children": [token.content]}]})
        elif token.type == "hr":
            stack[-1].append({"tag": "hr"})
        elif token.nesting == 1 and token.hidden:  # a tight list's paragraph
            stack.append(stack[-1])
        elif token.nesting == 1:
            node = _element(token)
            stack[-1].append(node)
            stack.append(node["children"])
        elif token.nesting == -1 and len(stack) > 1:
            stack.pop()
    return root


def _element(token: Token) -> dict[str, Any]:
    node: dict[str, Any] = {"tag": token.tag, "children": []}
    start = token.attrGet("start")
    if token.tag == "ol" and start is not None:
        node["start"] = int(start)
    return node


def _inline(tokens: list[Token]) -> list[Node]:
    root: list[Node] = []
    stack: list[list[Node]] = [root]
    for token in tokens:
        kind = token.type
        if kind == "text":
            if token.content:
                stack[-1].append(token.content)
        elif kind == "softbreak":
            stack[-1].append("\n")
        elif kind == "hardbreak":
            stack[-1].append({"tag": "br"})
        elif kind == "code_inline":
            stack[-1].append({"tag": "code", "children": [token.content]})
        elif kind in _INLINE_TAGS:
            node: dict[str, Any] = {"tag": _INLINE_TAGS[kind], "children": []}
            if kind == "link_open":
                href = str(token.attrGet("href") or "")
                if _SAFE_LINK.match(href):
                    node["href"] = href
                else:
                    node["tag"] = "span"
            stack[-1].append(node)
            stack.append(node["children"])
        elif kind.endswith("_close") and len(stack) > 1:
            stack.pop()
        elif token.content:  # anything else (e.g. an image's alt text) as text
            stack[-1].append(token.content)
    return root


def field_tree(value: Any) -> Any:
    """The object for the page: each dict as ordered entries, lists and scalars as they are."""
    if isinstance(value, dict):
        return {"entries": [[str(key), field_tree(item)] for key, item in value.items()]}
    if isinstance(value, list):
        return [field_tree(item) for item in value]
    return value


def step_modes(workflow: Any, run_mode: str) -> dict[str, str]:
    """mock | sim | live for each model step at the top of the workflow, for this run mode."""
    return {step.name: mode for step in workflow.steps
            if (mode := mode_of(step, run_mode)) is not None}


def mode_of(step: Any, run_mode: str) -> str | None:
    from rillet.engine.modes import step_mode
    from rillet.steps import MODEL_STEPS

    module = MODEL_STEPS.get(getattr(step, "type", None))  # type: ignore[arg-type]
    if module is None:
        return None
    return step_mode(run_mode, getattr(step, "mode", None), module.provider_kind(step))


def all_steps(steps: list[Any]) -> Iterator[Any]:
    """Every step, containers' children included."""
    for step in steps:
        yield step
        yield from all_steps(_children(step))


def _children(step: Any) -> list[Any]:
    # A container's children: whichever of its fields holds a list of steps.
    return [child for value in vars(step).values() if isinstance(value, list)
            for child in value if hasattr(child, "type") and hasattr(child, "name")]


def live_ready(workflow: Any) -> dict[str, bool]:
    """For each provider the workflow's model steps use: whether credentials exist."""
    from rillet.providers.registry import has_credentials
    from rillet.steps import MODEL_STEPS

    kinds = {MODEL_STEPS[s.type].provider_kind(s) for s in all_steps(list(workflow.steps))
             if getattr(s, "type", None) in MODEL_STEPS}
    return {kind: has_credentials(kind) for kind in sorted(kinds)}


def find_step(workflow: Any, label: str) -> Any:
    """The step definition behind a path label (`fanout.a`, `review[3].summarise`), or
    None (a step of a pipeline loaded from another file)."""
    steps: list[Any] = list(workflow.steps)
    found = None
    for part in label.split("."):
        name = _INDEX.sub("", part)
        found = next((s for s in steps if getattr(s, "name", None) == name), None)
        if found is None:
            return None
        steps = _children(found)
    return found


class Feed:
    """Turns a run's events into the page's payloads (one Feed per run or replay)."""

    def __init__(self, workflow: Any, run_mode: str | None):
        self.workflow = workflow
        self.run_mode = run_mode
        self._shown: dict[str, Any] = {}  # step -> the fields last sent
        self._structured: set[str] = set()  # steps whose result is an object

    def payload(self, event: Event) -> dict[str, Any] | None:
        """The event for the page, or None when the page has it already."""
        out = event_to_dict(event)
        if type(event) is StepStarted and event.provider is not None:
            out["mode"] = self._mode(event)
        return self._dressed(out)

    def replayed(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """A logged event (already a dict) for the page, marked as a replay."""
        payload["replay"] = True
        return self._dressed(payload)

    def _dressed(self, out: dict[str, Any]) -> dict[str, Any] | None:
        kind = out["type"]
        if kind == "TextDelta":
            return out
        step = out.get("step")
        if kind == "PartialOutput":
            fields = field_tree(out.get("value"))
            if self._shown.get(step, _NOTHING) == fields:
                return None
            self._shown[step] = out["fields"] = fields
        elif kind == "ResponseComplete" and out.get("output") is not None:
            self._structured.add(step)  # type: ignore[arg-type]
            out["fields"] = field_tree(out["output"])
        elif kind == "StreamRetry":
            self._shown.pop(step, None)  # the object starts again
        elif kind == "StepCompleted" and out.get("text") and step not in self._structured:
            out["markdown"] = markdown_tree(out["text"])  # (an object's text is its JSON)
        return out

    def _mode(self, event: StepStarted) -> str | None:
        if self.run_mode is None:
            return None  # a replay: where it ran is not in the log
        from rillet.engine.modes import step_mode

        step = find_step(self.workflow, event.step)
        choice = getattr(step, "mode", None) if step is not None else None
        return step_mode(self.run_mode, choice, event.provider)  # type: ignore[arg-type]
