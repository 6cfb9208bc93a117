"""Items from JSONL, CSV and folders, bad rows as failed items, and batch.jsonl's
crash-safe appends."""

from __future__ import annotations

from pathlib import Path

import pytest

from rillet.batching import journal
from rillet.batching.inputs import read_items
from rillet.errors import RilletError


def test_jsonl_lines_become_inputs_and_bad_lines_become_items_with_errors(tmp_path: Path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"ticket": "a"}\n\n{not json\n[1, 2]\n{"ticket": "b"}\n', encoding="utf-8")
    items = read_items(data)
    assert [(i.id, i.inputs, i.error is None) for i in items] == [
        ("line-1", {"ticket": "a"}, True), ("line-3", {}, False), ("line-4", {}, False),
        ("line-5", {"ticket": "b"}, True)]
    assert items[1].error.startswith(f"{data}:3: not valid JSON")
    assert items[2].error == f"{data}:4: expected a JSON object of inputs, got list"


def test_csv_rows_become_inputs_keyed_by_header_and_ragged_rows_fail(tmp_path: Path):
    data = tmp_path / "d.csv"
    data.write_text('customer,ticket\nAda,"export, broken"\nGrace,x,extra\nLinus\n',
                    encoding="utf-8")
    items = read_items(data)
    assert items[0].inputs == {"customer": "Ada", "ticket": "export, broken"}
    assert items[1].error == f"{data}:3: 3 fields, the header has 2"
    assert items[2].error == f"{data}:4: no value for column(s) ticket"


def test_a_folder_gives_one_item_per_file_with_its_content(tmp_path: Path):
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "b.md").write_text("bee", encoding="utf-8")
    (tmp_path / "docs" / "sub" / "a.md").write_text("ay", encoding="utf-8")
    (tmp_path / "docs" / ".hidden").write_text("no", encoding="utf-8")
    items = read_items(tmp_path / "docs")
    assert [(i.id, i.inputs["name"], i.inputs["content"]) for i in items] == [
        ("b.md", "b.md", "bee"), ("sub/a.md", "a.md", "ay")]


def test_an_unknown_inputs_kind_is_one_clear_error(tmp_path: Path):
    (tmp_path / "d.txt").write_text("x", encoding="utf-8")
    with pytest.raises(RilletError, match=r"expected a \.jsonl or \.csv file or a folder"):
        read_items(tmp_path / "d.txt")
    with pytest.raises(RilletError, match="no such file or folder"):
        read_items(tmp_path / "missing.jsonl")


def test_the_journal_ignores_a_cut_last_line_and_the_next_append_starts_clean(tmp_path: Path):
    path = tmp_path / "batch.jsonl"
    log = journal.Journal(path)
    log.append({"item": "a", "status": "completed"})
    log.close()
    with path.open("ab") as file:
        file.write(b'{"item": "b", "stat')  # a crash in the middle of a write
    assert list(journal.load(path)) == ["a"]
    log = journal.Journal(path)
    log.append({"item": "c", "status": "failed"})
    log.close()
    assert path.read_text(encoding="utf-8").splitlines()[-1] == '{"item": "c", "status": "failed"}'
    assert list(journal.load(path)) == ["a", "c"]
