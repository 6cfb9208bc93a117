"""The documented keys are the real keys: the workflow format reference against the JSON
Schema, each handler's options against its options model, the run options, the metrics and
the events against the code. A key added to the code and not documented (or documented
and not in the code), or a default that changed, fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from doc_blocks import ROOT, documentation_files
from key_tables import UNSET, KeyTable, documented_default, key_tables, real_keys, show_default

TABLES = [table for path in documentation_files() for table in key_tables(path)]


def check_table(table: KeyTable) -> None:
    real = real_keys(table.kind, table.target)
    documented = table.keys()
    # A schema table may document part of its models' keys; the rest must be in another
    # table naming the model (test_every_key_of_the_workflow_schema_is_documented).
    missing = [] if table.kind == "schema" else sorted(set(real) - set(documented))
    unknown = sorted(set(documented) - set(real))
    assert not missing and not unknown, (
        f"{table.id}: keys not documented: {missing}; documented keys the code does not "
        f"have: {unknown}")
    default_col = table.column("default")
    if default_col is not None:
        for key, row in documented.items():
            stated = documented_default(row[default_col]) if default_col < len(row) else None
            actual = real[key]
            if stated is None or actual is UNSET:
                continue
            assert stated == show_default(actual), (
                f"{table.id}: `{key}` is documented with default {stated!r}, the code has "
                f"{show_default(actual)!r}")
    if table.kind in ("events", "handlers"):
        for name, row in documented.items():
            named = set(_codes(row[1]))
            # events: exactly the fields; handlers: every option (defaults may be in code too)
            wrong = set(real[name]) ^ named if table.kind == "events" \
                else set(real[name]) - named
            assert not wrong, (
                f"{table.id}: {name} has {sorted(real[name])}, documented {sorted(named)}")


def _codes(cell: str) -> list[str]:
    import re

    return re.findall(r"`([^`]+)`", cell)


@pytest.mark.parametrize("table", TABLES, ids=[t.id for t in TABLES])
def test_documented_keys_are_the_real_keys(table: KeyTable):
    check_table(table)


def test_every_key_of_the_workflow_schema_is_documented():
    from rillet.workflow import loader

    schema = loader.json_schema()
    documented: dict[str, set[str]] = {}
    for table in TABLES:
        if table.kind == "schema" and table.path.name == "workflow-format.md":
            for model in table.target.split(","):
                documented.setdefault(model, set()).update(table.keys())
    undocumented = [f"{model}.{key}" for model, node in schema.get("$defs", {}).items()
                    for key in node.get("properties", {})
                    if key not in documented.get(model, set())]
    assert undocumented == [], (
        f"keys of the JSON Schema with no row in docs/workflow-format.md: {undocumented}")


def test_every_builtin_handler_has_an_options_table():
    from rillet.streaming.handler import handler_names

    documented = {t.target for t in TABLES if t.kind == "handler"
                  and t.path.name == "streaming.md"}
    assert set(handler_names()) - documented == set()


def test_events_run_options_and_metrics_are_documented():
    kinds = {(t.kind, t.target) for t in TABLES}
    assert ("events", "") in kinds
    assert ("metrics", "") in kinds
    assert ("dataclass", "rillet.engine.executor.RunOptions") in kinds


# --- the check can fail -----------------------------------------------------------------------


def _table(tmp_path: Path, text: str) -> KeyTable:
    doc = tmp_path / "t.md"
    doc.write_text(text, encoding="utf-8")
    (table,) = key_tables(doc)
    return table


def test_a_missing_or_invented_key_fails(tmp_path: Path):
    table = _table(tmp_path, "<!-- keys: model:rillet.sim.script.Fault -->\n"
                   "| Key | Default |\n|---|---|\n| `kind` | |\n| `status` | `529` |\n"
                   "| `times` | `1` |\n| `seconds` | `30.0` |\n| `after_delta` | `0` |\n")
    with pytest.raises(AssertionError, match=r"not documented: \['after_deltas'\].*"
                                             r"does not have: \['after_delta'\]"):
        check_table(table)


def test_a_wrong_default_fails(tmp_path: Path):
    table = _table(tmp_path, "<!-- keys: model:rillet.sim.script.ToolCall -->\n"
                   "| Key | Default |\n|---|---|\n| `name` | |\n| `input` | `{}` |\n")
    check_table(table)
    table = _table(tmp_path, "<!-- keys: model:rillet.sim.script.Fault -->\n"
                   "| Key | Default |\n|---|---|\n| `kind` | |\n| `status` | `500` |\n"
                   "| `times` | `1` |\n| `seconds` | `30.0` |\n| `after_deltas` | `0` |\n")
    with pytest.raises(AssertionError, match="default '500', the code has '529'"):
        check_table(table)


def test_the_reference_files_exist():
    for name in ("workflow-format.md", "step-types.md", "streaming.md", "providers.md",
                 "testing.md", "quick-reference.md", "migration-from-pipeline-ex.md"):
        assert (ROOT / "docs" / name).exists(), name


def test_provider_defaults_named_in_the_docs_are_the_codes():
    from rillet.providers import anthropic_api, gemini

    step_types = (ROOT / "docs" / "step-types.md").read_text(encoding="utf-8")
    reference = (ROOT / "docs" / "workflow-format.md").read_text(encoding="utf-8")
    assert f"`model` defaults to `{anthropic_api.DEFAULT_MODEL}`" in step_types
    assert f"(default {anthropic_api.DEFAULT_MAX_TOKENS})" in step_types
    assert f"(default {anthropic_api.DEFAULT_MAX_TOKENS})" in reference
    assert f"else `{gemini.DEFAULT_MODEL}`" in step_types
    assert f"up to {anthropic_api.SDK_MAX_RETRIES} times; a connection that breaks mid-stream " \
           f"is retried up to {anthropic_api.STREAM_RETRIES} times" in " ".join(step_types.split())
    assert f"up to {gemini.SDK_ATTEMPTS} attempts" in " ".join(step_types.split())
    assert f"sent again up to {gemini.STREAM_RETRIES} times" in " ".join(step_types.split())


def test_cli_options_named_in_the_docs_exist():
    """Every `--option` the quick reference shows for a command is one that command has."""
    import re

    from typer.main import get_command

    from rillet.cli import app

    commands = get_command(app).commands  # type: ignore[attr-defined]
    quick = (ROOT / "docs" / "quick-reference.md").read_text(encoding="utf-8")
    block = quick.split("## Commands", 1)[1].split("```", 2)[1]
    shown: dict[str, set[str]] = {}
    current = None
    for line in block.splitlines():
        started = re.match(r"rillet (\w+)", line)
        if started:
            current = started[1]
        if current:
            shown.setdefault(current, set()).update(re.findall(r"--[a-z][a-z-]*", line.split("#")[0]))
    assert {"run", "validate", "schema", "sim", "serve", "bench"} <= set(shown)
    for name, options in shown.items():
        known = {o for p in commands[name].params for o in [*p.opts, *p.secondary_opts]}
        assert options <= known, (name, sorted(options - known))
