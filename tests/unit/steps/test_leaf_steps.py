"""echo, data_transform and file_ops on the mock run: pipeline_ex's semantics, no eval,
files confined to the workspace."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import rillet
from rillet.errors import WorkflowError
from rillet.workflow.loader import loads_workflow

ORDERS = [
    {"id": 1, "user_id": 10, "total": 250, "status": "completed", "tier": "gold"},
    {"id": 2, "user_id": 11, "total": 80, "status": "completed", "tier": "silver"},
    {"id": 3, "user_id": 10, "total": 400, "status": "pending", "tier": "gold"},
    {"id": 4, "user_id": 12, "total": 120, "status": "completed", "tier": "gold"},
]
USERS = [{"id": 10, "name": "Ada"}, {"id": 12, "name": "Lin"}]


@pytest.fixture
def run(tmp_path: Path):
    async def run_flow(body: str, **options):
        flow = tmp_path / "flow.yaml"
        flow.write_text(textwrap.dedent(body), encoding="utf-8")
        return await rillet.run_async(flow, mode="mock", output_dir=tmp_path / "out",
                                      workspace_dir=tmp_path / "ws", **options)
    return run_flow


def data_flow(operations: str, source: str = "previous_response:data:orders") -> str:
    return f"""
        workflow:
          name: t
          steps:
            - name: data
              type: echo
              value: {json.dumps({"orders": ORDERS, "users": USERS})}
            - name: users
              type: echo
              value: "{{{{ steps.data.result.users }}}}"
            - name: shape
              type: data_transform
              input_source: "{source}"
              output_field: shaped
              operations:
{textwrap.indent(textwrap.dedent(operations).strip(), " " * 16)}
            - name: after
              type: echo
              value: "{{{{ shaped | length }}}}"
    """


async def test_echo_keeps_the_value_and_its_type(run):
    result = await run("""
        workflow:
          name: t
          steps:
            - {name: a, type: test_echo, value: {metrics: {accuracy: 0.95}}}
            - {name: b, type: echo, value: "accuracy {{ steps.a.result.metrics.accuracy }}"}
    """)
    assert result.status == "completed"
    assert result["a"].data == {"metrics": {"accuracy": 0.95}}
    assert result["b"].text == "accuracy 0.95"


async def test_echo_with_fail_fails_the_step_with_its_message(run):
    result = await run("""
        workflow:
          name: t
          steps:
            - {name: a, type: echo, value: x, fail: true, error_message: "broken on purpose"}
    """)
    assert result.status == "failed"
    assert result.failed_step == "a"
    assert "broken on purpose" in result.error


async def test_filter_and_sort_like_pipeline_ex(run):
    result = await run(data_flow("""
        - {operation: filter, field: status, condition: "status == 'completed'"}
        - {operation: filter, field: total, condition: "value > 100"}
        - {operation: sort, field: total, order: desc}
    """))
    assert result.status == "completed", result.error
    assert [o["id"] for o in result["shape"].data] == [1, 4]
    assert result["after"].text == "2"  # output_field is a state variable


async def test_join_group_by_aggregate_map_and_select(run):
    result = await run(data_flow("""
        - {operation: join, left_field: user_id, right_source: "previous_response:users",
           join_key: id}
        - {operation: map, field: tier, mapping: {gold: premium}}
        - {operation: select, fields: [id, name, tier, total]}
        - {operation: group_by, field: tier}
    """))
    assert result.status == "completed", result.error
    groups = result["shape"].data
    assert set(groups) == {"premium", "silver"}
    # As in pipeline_ex, the joined item's keys win (the user's id replaces the order's).
    assert groups["premium"][0] == {"id": 10, "name": "Ada", "tier": "premium", "total": 250}
    assert groups["silver"] == [{"id": 2, "tier": "silver", "total": 80}]  # no user: as it was


@pytest.mark.parametrize(("function", "expected"), [
    ("sum", 850), ("average", 212.5), ("count", 4), ("max", 400), ("min", 80),
    ("first", 250), ("last", 120)])
async def test_aggregate_functions(run, function, expected):
    result = await run(data_flow(f"- {{operation: aggregate, field: total, "
                                 f"function: {function}}}"))
    assert json.loads(result["shape"].text) == expected


async def test_a_transform_on_data_of_the_wrong_shape_fails_naming_the_operation(run):
    result = await run(data_flow("- {operation: sort, field: total}",
                                 source="previous_response:data:missing"))
    assert result.status == "failed"
    assert "previous_response:data:missing: no 'missing' in the data" in result.error


def test_filter_conditions_and_sources_are_checked_when_the_file_loads():
    with pytest.raises(WorkflowError) as info:
        loads_workflow(textwrap.dedent("""
            workflow:
              name: t
              steps:
                - name: shape
                  type: data_transform
                  input_source: previous_response:later
                  operations:
                    - {operation: filter, condition: "total >"}
                - {name: later, type: echo, value: 1}
        """), source="flow.yaml")
    assert info.value.problems == [
        "flow.yaml:7: steps[0].input_source: previous_response: step 'later' runs after this "
        "one; only earlier steps can be used",
        "flow.yaml:9: steps[0].operations[0].condition: condition 'total >': expected a value "
        "at the end (column 8)",
    ]


def files_flow(*steps: str) -> str:
    body = "\n".join(textwrap.indent(textwrap.dedent(s).strip(), " " * 12) for s in steps)
    return f"workflow:\n  name: t\n  steps:\n{body}\n"


async def test_copy_convert_list_validate_move_and_delete_inside_the_workspace(run, tmp_path):
    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    (ws / "data" / "people.csv").write_text("name,age\nAda,36\nLin,41\n")
    result = await run(files_flow(
        "- {name: copy, type: file_ops, operation: copy, source: data/people.csv, "
        "destination: backup/people.csv}",
        "- {name: to_json, type: file_ops, operation: convert, source: data/people.csv, "
        "destination: data/people.json, format: csv_to_json}",
        "- {name: to_yaml, type: file_ops, operation: convert, source: data/people.json, "
        "destination: data/people.yaml, format: json_to_yaml}",
        "- {name: listing, type: file_ops, operation: list, path: data, pattern: '*.y*ml'}",
        "- name: check\n  type: file_ops\n  operation: validate\n  files:\n"
        "    - {path: data/people.json, must_be_file: true, min_size: 10}",
        "- {name: move, type: file_ops, operation: move, source: backup/people.csv, "
        "destination: old/people.csv}",
        "- {name: remove, type: file_ops, operation: delete, path: old}",
    ))
    assert result.status == "completed", result.error
    assert json.loads((ws / "data" / "people.json").read_text()) == [
        {"name": "Ada", "age": "36"}, {"name": "Lin", "age": "41"}]
    assert "- name: Ada" in (ws / "data" / "people.yaml").read_text()
    assert result["listing"].data["files"] == ["data/people.yaml"]
    assert result["check"].data["results"][0]["status"] == "valid"
    assert not (ws / "old").exists() and not (ws / "backup" / "people.csv").exists()


async def test_validate_fails_the_step_naming_each_bad_file(run, tmp_path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "tiny.txt").write_text("x")
    result = await run(files_flow(
        "- name: check\n  type: file_ops\n  operation: validate\n  files:\n"
        "    - {path: tiny.txt, min_size: 5}\n    - {path: gone.txt}"))
    assert result.status == "failed"
    assert "2 of 2 file(s) failed: tiny.txt: too small: 1 < 5 bytes; gone.txt: does not " \
           "exist" in result.error


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/hosts", "link/secret.txt"])
async def test_paths_that_leave_the_workspace_are_refused(run, tmp_path, path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.txt").write_text("keep me")
    (ws / "link").symlink_to(tmp_path / "elsewhere")
    result = await run(files_flow(f"- {{name: rm, type: file_ops, operation: delete, "
                                  f"path: '{path}'}}"))
    assert result.status == "failed"
    assert "workspace" in result.error
    assert (tmp_path / "elsewhere" / "secret.txt").read_text() == "keep me"


def test_a_file_operation_without_its_keys_is_a_load_error():
    with pytest.raises(WorkflowError) as info:
        loads_workflow(files_flow("- {name: c, type: file_ops, operation: convert, "
                                  "source: a.csv, path: x}"), source="flow.yaml")
    assert info.value.problems == [
        "flow.yaml:4: steps[0]: operation convert needs source and destination and format "
        "(missing: destination, format)"]
