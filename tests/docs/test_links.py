"""Links between the documents resolve (files and #anchors), and the README keeps its
opening (the title and the two commands) and its closing Status section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from doc_blocks import ROOT, documentation_files

_LINK = re.compile(r"(?<!!)\[[^\]]+\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^\s*(```|~~~)")


def prose(path: Path) -> str:
    """The file without its fenced code blocks (links inside code are not links)."""
    kept, in_code = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if not in_code:
            kept.append(line)
    return "\n".join(kept)


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for line in prose(path).splitlines():
        match = re.match(r"^#{1,6}\s+(.*)$", line)
        if match:
            text = match[1].strip().lower()
            text = re.sub(r"[^\w\- ]", "", text)
            found.add(text.replace(" ", "-"))
    return found


def links() -> list[tuple[Path, str]]:
    files = [*documentation_files(), ROOT / "CHANGELOG.md"]
    return [(path, target) for path in files for target in _LINK.findall(prose(path))
            if not re.match(r"[a-z]+:", target)]


LINKS = links()


@pytest.mark.parametrize("source,target", LINKS,
                         ids=[f"{p.name}->{t}" for p, t in LINKS])
def test_relative_link_resolves(source: Path, target: str):
    file_part, _, anchor = target.partition("#")
    destination = (source.parent / file_part).resolve() if file_part else source
    assert destination.exists(), f"{source.name}: link to missing {file_part}"
    if anchor:
        assert destination.is_file() and anchor in anchors(destination), (
            f"{source.name}: no heading for #{anchor} in {destination.name}; headings: "
            f"{sorted(anchors(destination))}")


def test_anchor_rules_follow_github():
    doc = ROOT / "docs" / "streaming.md"
    assert "python-api-rilletrun-run_async-stream" in anchors(doc)
    assert "passthrough-output_to_file-and-the-next-step" in anchors(doc)


def test_readme_opens_with_the_two_commands_and_ends_with_status():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# rillet"
    assert lines[2] == "```sh" and lines[5] == "```"
    assert lines[3].startswith("make demo   #") and lines[4].startswith("make test   #")
    headings = [line for line in lines if line.startswith("## ")]
    assert headings[-1] == "## Status"


def test_no_table_cell_breaks_on_a_pipe_inside_code():
    """GitHub splits table cells at every `|`, even inside backticks."""
    broken = []
    for path in [*documentation_files(), ROOT / "CHANGELOG.md"]:
        for number, line in enumerate(prose(path).splitlines(), 1):
            if line.lstrip().startswith("|"):
                broken += [f"{path.name}: {span}" for span in re.findall(r"`([^`]*)`", line)
                           if "|" in span]
    assert broken == []
