"""What a pipeline_ex file needs from its caller to run on its own, for
test_pipeline_ex_corpus.py and measure_corpus.py alike: the values pipeline_ex's docs,
usage comments and tests give it.

`inputs` go on the command line (`--input NAME=VALUE`). `script` names a mock script in
pipeline_ex_scripts/ (rillet's test data, not pipeline_ex's) for a file whose later steps
need a model's answer in a given shape (`--script FILE`). `unset_names: empty` runs a file
that relies on pipeline_ex rendering a name nothing set as empty text (`--unset-names
empty`), with the reason beside it. A file that also reads a parent's
`global_vars` is a nested-pipeline fixture: it runs under a small parent workflow (written
by `parent_workflow`) that has those global_vars and calls it with `config.inherit_context:
true` and the inputs, as pipeline_ex's own test does.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

CALLERS: dict[str, dict[str, dict[str, Any]]] = {
    # Their usage comments: `mix pipeline.run workflows/… --input code_file=…`.
    "workflows/explain_code.yaml": {"inputs": {"code_file": "explain_code.yaml"}},
    "workflows/quick_review.yaml": {"inputs": {"code_file": "quick_review.yaml"}},
    "workflows/fix_bug.yaml": {"inputs": {"error_log": "fix_bug.yaml"}},
    # test/integration/nested_pipeline_phase2_test.exs, "passes variables between parent
    # and child pipelines": item_name and item_count come from a step {name: test_item,
    # count: 42}, multiplier is 2.
    "test/fixtures/pipelines/nested_processor.yaml": {
        "inputs": {"item_name": "test_item", "item_count": 42, "multiplier": 2}},
    # The same test file, "inherits context when configured".
    "test/fixtures/pipelines/context_inherit_test.yaml": {
        "inputs": {"test_input": "input_value"},
        "global_vars": {"parent_var": "parent_value"}},
    # lib/mix/tasks/pipeline.generate.ex gives the request on the command line and puts it
    # in for {{pipeline_request}}; the example is README_GENESIS.md's. Its prompt shows
    # `{{first_step.output}}` as an example of the syntax the generated pipeline may use;
    # pipeline_ex rendered that unset name as empty text.
    "working_genesis.yaml": {
        "inputs": {"pipeline_request": "Create a pipeline that analyzes code quality"},
        "unset_names": "empty"},
    # The same {{pipeline_request}}, in the genesis pipeline docs/architecture describes.
    "pipelines/meta/genesis_pipeline.yaml": {
        "inputs": {"pipeline_request": "Create a pipeline that analyzes code quality"}},
    # Its data_transform steps read the JSON its first (gemini) step is asked for; the
    # mock's default answer is prose, so a script gives that step sample JSON.
    "examples/data_transform_example.yaml": {"script": "data_transform_example.yaml"},
    # Its later steps read fields of two answers (`extract: testing.coverage`, the
    # condition on `quality_assessment.overall_score`): a script gives those two JSON.
    "examples/comprehensive_config_example.yaml": {
        "script": "comprehensive_config_example.yaml"},
}

SCRIPTS = Path(__file__).parent / "pipeline_ex_scripts"


def inputs_of(path: str) -> dict[str, Any]:
    return dict(CALLERS.get(path, {}).get("inputs", {}))


def input_arguments(path: str) -> list[str]:
    """`-i NAME=VALUE` pairs for `rillet run` (a value that is not text is written as JSON,
    which --input reads back)."""
    pairs = [f"{name}={value if isinstance(value, str) else json.dumps(value)}"
             for name, value in inputs_of(path).items()]
    return [arg for pair in pairs for arg in ("-i", pair)]


def run_options(path: str) -> dict[str, Any]:
    """The options besides inputs, as rillet.run_async takes them."""
    entry, options = CALLERS.get(path, {}), {}
    if "script" in entry:
        options["script"] = SCRIPTS / entry["script"]
    if "unset_names" in entry:
        options["unset_names"] = entry["unset_names"]
    return options


def option_arguments(path: str) -> list[str]:
    """The same options as `rillet run` arguments."""
    return [arg for name, value in run_options(path).items()
            for arg in (f"--{name.replace('_', '-')}", str(value))]


def needs_parent(path: str) -> bool:
    return bool(CALLERS.get(path, {}).get("global_vars"))


def parent_workflow(path: str) -> str:
    """A workflow that runs `path` (relative to the pipeline_ex root, where the parent is
    written) as its one nested pipeline, giving its inputs and global_vars."""
    entry = CALLERS[path]
    name = PurePosixPath(path).stem
    return json.dumps({"workflow": {
        "name": f"parent_of_{name}",
        "global_vars": entry.get("global_vars", {}),
        "steps": [{"name": name, "type": "pipeline", "pipeline_file": f"./{path}",
                   "inputs": entry.get("inputs", {}),
                   "config": {"inherit_context": True}}]}}, indent=2)
