"""Handlers and callbacks in Python files beside the workflow are found by dotted path,
without putting the workflow's folder on sys.path."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid

import rillet


def test_a_handler_module_beside_the_workflow_needs_no_pythonpath(tmp_path, monkeypatch):
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
    assert str(tmp_path.resolve()) not in sys.path
    assert str(tmp_path) not in sys.path


MARKER_MODULE = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")

def on_event(event):
    pass

class Quiet:
    def __init__(self, options, context):
        pass
    def on_event(self, event):
        pass
"""


def _flow_with_code(tmp_path, module, function="on_event", handler="Quiet"):
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(f"""
        workflow:
          name: code-beside
          steps:
            - name: say
              type: claude
              stream_handler: [callback, "{module}:{handler}"]
              stream_handler_opts:
                callback: {{function: "{module}:{function}"}}
              prompt: "hello"
              mock: {{text: "hi", timing: {{pattern: fast}}}}
    """))
    return flow


def test_validating_imports_no_module_the_workflow_names(tmp_path):
    from typer.testing import CliRunner

    from rillet.cli import app

    module = f"marker_{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "imported.txt"
    (tmp_path / f"{module}.py").write_text(MARKER_MODULE.format(marker=str(marker)))
    flow = _flow_with_code(tmp_path, module)

    outcome = CliRunner().invoke(app, ["validate", str(flow)])

    assert outcome.exit_code == 0, outcome.output
    assert not marker.exists()
    assert module not in sys.modules


def test_validating_still_reports_a_misspelt_function_from_the_source(tmp_path):
    module = f"marker_{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "imported.txt"
    (tmp_path / f"{module}.py").write_text(MARKER_MODULE.format(marker=str(marker)))
    flow = _flow_with_code(tmp_path, module, function="on_evnt", handler="Quite")

    try:
        rillet.load_workflow(flow)
    except rillet.WorkflowError as exc:
        text = "\n".join(exc.problems)
    else:
        raise AssertionError("a misspelt callback passed validation")
    assert "defines no 'on_evnt'" in text
    assert "defines no 'Quite'" in text
    assert not marker.exists()


def test_running_imports_the_named_module_from_the_workflow_folder(tmp_path):
    module = f"marker_{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "imported.txt"
    (tmp_path / f"{module}.py").write_text(MARKER_MODULE.format(marker=str(marker)))

    result = rillet.run(_flow_with_code(tmp_path, module), mode="mock", quiet=True,
                        output_dir=tmp_path / "out", workspace_dir=tmp_path / "ws")

    assert result.success, result.error
    assert marker.read_text() == "imported"
