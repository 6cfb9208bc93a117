"""A two-step workflow and fast scripts for the batch tests."""

from __future__ import annotations

from pathlib import Path

import pytest

TWO_STEPS = """\
workflow:
  name: two_steps
  steps:
    - name: classify
      type: claude
      provider: anthropic_api
      model: claude-sonnet-5-5
      prompt:
        - type: static
          content: "Classify {{ inputs.ticket }}"
    - name: reply
      type: gemini
      model: gemini-3.5-flash
      prompt:
        - type: static
          content: "Reply about {{ inputs.ticket }} given:"
        - type: previous_response
          step: classify
"""


def script(**timing: object) -> dict:
    return {"timing": timing or {"pattern": "fast"},
            "rules": [{"match": "Classify", "text": "a bug, and urgent."},
                      {"match": "Reply", "text": "Thanks, we are on it and will write back."}]}


@pytest.fixture
def workflow_file(tmp_path: Path) -> Path:
    path = tmp_path / "two_steps.yaml"
    path.write_text(TWO_STEPS, encoding="utf-8")
    return path


@pytest.fixture
def fast_script():
    from rillet.sim.script import Script

    return Script.model_validate(script())


def jsonl(path: Path, rows: list[str]) -> Path:
    path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    return path
