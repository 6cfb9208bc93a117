"""The handlers as a workflow names them: options checked at load time, every handler fed
by the executor in one mock run, the buffer found again after the run."""

from __future__ import annotations

import io
import json
import textwrap

import pytest


import rillet.api
from rillet.errors import WorkflowError
from rillet.streaming.handlers.buffer import clear_buffers, get_buffer
from rillet.workflow.loader import load_workflow

ANSWER = "Rivers keep time, [slowly]; the sea keeps none."

FLOW = """
workflow:
  name: handlers-from-yaml
  steps:
    - name: draft
      type: claude
      prompt:
        - type: static
          content: Write about rivers
      mock:
        text: "{answer}"
      stream_handler: [console, file, jsonl, buffer, callback]
      stream_handler_opts:
        file: {{path: "{{run_id}}/draft.txt"}}
        callback: {{function: "yaml_hooks:on_text", events: [TextDelta]}}
"""


@pytest.fixture
def hooks(tmp_path, monkeypatch):
    folder = tmp_path / "hooks"
    folder.mkdir()
    (folder / "yaml_hooks.py").write_text("texts = []\n\ndef on_text(event):\n"
                                          "    texts.append(event.text)\n")
    monkeypatch.syspath_prepend(str(folder))
    import yaml_hooks

    yield yaml_hooks
    monkeypatch.delitem(__import__("sys").modules, "yaml_hooks")


def test_every_handler_is_fed_by_a_mock_run(tmp_path, hooks):
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.format(answer=ANSWER))
    out = tmp_path / "out"
    console = io.StringIO()
    result = rillet.api.run(flow, mode="mock", output_dir=out,
                            workspace_dir=tmp_path / "ws", stdout=console)
    try:
        assert result.success, result.error
        assert result["draft"].text == ANSWER
        assert result.warnings == []
        assert ANSWER in console.getvalue() and "▶ draft" in console.getvalue()
        assert (out / result.run_id / "draft.txt").read_text() == ANSWER
        lines = [json.loads(line) for line in
                 (out / "draft.events.jsonl").read_text().splitlines()]
        assert lines[0]["type"] == "StepStarted" and lines[-1]["type"] == "StepCompleted"
        assert "".join(hooks.texts) == ANSWER
        assert get_buffer(result.run_id, "draft").text() == ANSWER
    finally:
        clear_buffers(result.run_id)


def test_bad_handler_options_fail_when_the_workflow_loads(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent("""
        workflow:
          name: bad-options
          steps:
            - name: draft
              type: claude
              prompt: hi
              stream_handler: file
              stream_handler_opts:
                file: {path: "../outside.txt"}
    """))
    with pytest.raises(WorkflowError) as caught:
        load_workflow(flow)
    message = str(caught.value)
    assert "flow.yaml:" in message and "must be relative" in message
