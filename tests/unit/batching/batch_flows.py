"""The two-step workflow and the scripts the batch tests share (local and Ray)."""

from __future__ import annotations

from pathlib import Path

from rillet.sim.script import Script

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


def jsonl(path: Path, rows: list[str]) -> Path:
    path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def slow_script(tokens_per_second: float = 40) -> Script:
    return Script.model_validate(script(first_token_delay_s=0.0, jitter=0,
                                        tokens_per_second=tokens_per_second))
