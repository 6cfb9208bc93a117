"""Handlers and callbacks in Python files beside the workflow are found by dotted path."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid

import rillet


def test_a_handler_module_beside_the_workflow_needs_no_pythonpath(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the folder added is this test's only
    module = f"beside_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent("""
        import json
        from rillet import BaseHandler

        class Tally(BaseHandler):
            def __init__(self, options, context):
                self.path = context.output_dir / "tally.json"
                self.deltas = 0

            def on_event(self, event):
                if type(event).__name__ == "TextDelta":
                    self.deltas += 1

            def on_complete(self, result):
                self.path.write_text(json.dumps({"deltas": self.deltas, "text": result.text}))
    """))
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(f"""
        workflow:
          name: local-handler
          steps:
            - name: say
              type: claude
              stream_handler: {module}:Tally
              prompt: "hello"
              mock: {{text: "one two three", timing: {{pattern: fast}}}}
    """))
    result = rillet.run(flow, mode="mock", output_dir=tmp_path / "out",
                        workspace_dir=tmp_path / "ws", quiet=True)

    assert result.success, result.error
    tally = json.loads((tmp_path / "out" / "tally.json").read_text())
    assert tally == {"deltas": 3, "text": "one two three"}
    assert sys.path[-1] == str(tmp_path.resolve())
