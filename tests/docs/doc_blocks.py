"""Find the ```yaml and ```python blocks of the documentation, with the marker before each.

A marker is an HTML comment on the last non-blank line before the opening fence:

- `<!-- fragment -->`            YAML that is part of a workflow: parsed, not loaded.
- `<!-- invalid: TEXT -->`       a workflow that must be rejected with TEXT in the error.
- `<!-- sim-script -->`          a simulator / mock script (`--script FILE`).
- `<!-- save-as: NAME -->`       also written as NAME into the block's folder, for the
                                 blocks after it in the same file (a workflow a Python
                                 block runs, a handler module a workflow names).
- `<!-- no-run: REASON -->`      checked but not run (YAML: loaded; Python: compiled),
                                 because running it needs something a test cannot have.

Blocks with no marker are complete: a workflow is loaded and run in mock mode, a Python
block is executed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
_MARKER = re.compile(r"^\s*<!--\s*(?P<kind>[a-z-]+)\s*(?::\s*(?P<arg>.*?))?\s*-->\s*$")
MARKER_KINDS = {"fragment", "invalid", "sim-script", "save-as", "no-run"}
CHECKED_LANGS = {"yaml": "yaml", "yml": "yaml", "python": "python", "py": "python"}


@dataclass(frozen=True)
class Block:
    path: Path  # the Markdown file
    line: int  # 1-based line of the opening fence
    lang: str  # yaml | python
    code: str
    marker: str | None = None
    arg: str | None = None

    @property
    def id(self) -> str:
        where = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path.name
        return f"{where}:{self.line}"


def documentation_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "ADVANCED_FEATURES.md",
             *sorted((ROOT / "docs").glob("*.md"))]
    return [f for f in files if f.exists()]


def blocks_of(path: Path) -> list[Block]:
    """Every yaml/python block of one Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        lang = CHECKED_LANGS.get(opening["lang"].lower())
        if lang:
            body = "\n".join(line[indent:] for line in lines[index + 1:end]) + "\n"
            marker, arg = _marker_before(lines, index, path)
            found.append(Block(path, index + 1, lang, body, marker, arg))
        index = end + 1
    return found


def _marker_before(lines: list[str], fence_index: int, path: Path) -> tuple[str | None, str | None]:
    previous = fence_index - 1
    while previous >= 0 and not lines[previous].strip():
        previous -= 1
    if previous < 0:
        return None, None
    match = _MARKER.match(lines[previous])
    if not match:
        return None, None
    kind = match["kind"]
    if kind not in MARKER_KINDS:
        raise ValueError(f"{path}:{previous + 1}: unknown snippet marker '{kind}'; "
                         f"known: {', '.join(sorted(MARKER_KINDS))}")
    return kind, match["arg"] or None


def all_blocks() -> list[Block]:
    return [block for path in documentation_files() for block in blocks_of(path)]


def saved_before(block: Block) -> dict[str, str]:
    """Files the blocks before this one (in the same Markdown file) ask to be saved."""
    saved: dict[str, str] = {}
    for other in blocks_of(block.path):
        if other.line >= block.line:
            break
        if other.marker == "save-as" and other.arg:
            saved[other.arg] = other.code
    return saved


def output_after(block: Block) -> str | None:
    """The ```text block right after this one (blank lines between allowed), if any: the
    output the documentation says the block gives."""
    lines = block.path.read_text(encoding="utf-8").splitlines()
    index = block.line  # the line after the opening fence (0-based index of the next line)
    while index < len(lines) and not lines[index].strip().startswith("```"):
        index += 1
    index += 1  # past the closing fence
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index >= len(lines) or lines[index].strip() != "```text":
        return None
    end = index + 1
    while end < len(lines) and not lines[end].strip().startswith("```"):
        end += 1
    return "\n".join(lines[index + 1:end])
