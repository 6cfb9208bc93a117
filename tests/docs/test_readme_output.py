"""The terminal output the README shows is what rillet prints: the streamed text of each
step, its provider and the variables line come from running the same workflow (on the mock
provider, which answers from the same built-in script as the simulator the README ran on).
Timings and costs differ from run to run and are not compared."""

from __future__ import annotations

import json
import re
from pathlib import Path


from doc_blocks import ROOT, blocks_of


import rillet  # noqa: E402
from rillet.events import StepStarted  # noqa: E402

README = ROOT / "README.md"


def text_block_after(marker: str) -> list[str]:
    """The lines of the first ```text block after the line containing `marker`."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line)
    opening = next(i for i in range(start, len(lines)) if lines[i].startswith("```text"))
    closing = next(i for i in range(opening + 1, len(lines)) if lines[i].startswith("```"))
    return lines[opening + 1:closing]


def sections(shown: list[str]) -> dict[str, tuple[str, list[str]]]:
    """step -> (provider, the lines of text shown between its ▶ and ■ lines)."""
    found: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for line in shown:
        started = re.match(r"▶ (\S+) · (.*)$", line)
        if started:
            current = started[1]
            found[current] = (started[2].split(" · ")[-1], [])
        elif line.startswith("■ "):
            current = None
        elif current is not None:
            found[current][1].append(line)
    return found


class Providers:
    name = "providers"

    def __init__(self) -> None:
        self.of: dict[str, str | None] = {}

    def on_event(self, event) -> None:
        if type(event) is StepStarted:
            self.of[event.step] = event.provider


def check_shown_output(shown: list[str], result, providers: Providers) -> None:
    steps = sections(shown)
    assert steps, "no step sections (▶ ... ■) in the README output"
    for step, (provider, lines) in steps.items():
        assert providers.of[step] == provider, (step, provider)
        text = result[step].text
        for line in lines:
            piece = line.removesuffix("...").rstrip()
            if piece:
                assert piece in text, f"README shows {piece!r} for step {step}, rillet says:\n{text}"
    for line in shown:
        variables = re.match(r"✓ (\S+): (\{.*\})$", line)
        if variables:
            assert json.loads(variables[2]) == result[variables[1]].variables


def test_readme_first_workflow_output_is_what_rillet_prints(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (saved,) = [b for b in blocks_of(README) if b.marker == "save-as" and b.arg == "hello.yaml"]
    (tmp_path / "hello.yaml").write_text(saved.code, encoding="utf-8")
    providers = Providers()
    result = rillet.run("hello.yaml", mode="mock", output_dir=tmp_path / "out",
                        listeners=[providers])

    shown = text_block_after("and run it with")
    assert shown[0].startswith("rillet ▸ hello · 2 steps")
    check_shown_output(shown, result, providers)
    # The whole answer is shown, not an excerpt.
    assert "\n".join(sections(shown)["plan"][1]) == result["plan"].text


def test_readme_demo_output_is_what_the_showcase_prints(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    providers = Providers()
    result = rillet.run(ROOT / "examples" / "showcase.yaml", mode="mock",
                        output_dir=tmp_path / "out", listeners=[providers])

    shown = text_block_after("## What `make demo` shows")
    assert shown[0].startswith(f"rillet ▸ showcase · {len(result.results)} steps")
    check_shown_output(shown, result, providers)
    assert set(sections(shown)) == {s for s, p in providers.of.items() if p is not None}
