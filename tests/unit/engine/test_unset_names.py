"""`unset_names="empty"` (`rillet run --unset-names empty`): pipeline_ex's empty text for a
name nothing set, opted into; the default stays an error."""

from __future__ import annotations

import json

import pytest

import rillet

FLOW = """
    workflow:
      name: t
      steps:
        - name: note
          type: set_variable
          variables: {kept: "yes"}
        - name: write
          type: claude
          prompt: "A{{ first_step.output }}B{{ kept }}C{{ other }}D{{ other }}E"
          mock: "done"
        - name: whole
          type: set_variable
          variables: {copied: "{{ missing.deep[0].name }}"}
"""


async def test_by_default_an_unset_name_stops_the_run(write_workflow, run_opts):
    result = await rillet.run_async(write_workflow(FLOW), **run_opts)
    assert result.status == "failed" and result.failed_step == "write"
    assert "'first_step' is not set" in result.error
    assert result.warnings == []


async def test_empty_renders_each_unset_name_as_nothing_and_warns_once_per_name(
        write_workflow, run_opts, capsys):
    result = await rillet.run_async(write_workflow(FLOW), unset_names="empty", **run_opts)
    assert result.status == "completed", result.error
    assert result["whole"].variables == {"copied": ""}  # a whole value: empty text
    names = ["first_step", "other", "missing"]
    assert result.warnings == [f"template name '{name}' is not set and was rendered as empty "
                               f"text (--unset-names empty)" for name in names]
    recorded = json.loads(result.results_path.read_text())
    assert recorded["warnings"] == result.warnings
    assert capsys.readouterr().err.count("warning: template name") == 3


async def test_the_prompt_is_the_text_with_the_unset_names_left_out(write_workflow, run_opts):
    flow = write_workflow("""
        workflow:
          name: t
          steps:
            - {name: s, type: set_variable, variables: {kept: "K"}}
            - name: e
              type: set_variable
              variables: {text: "A{{ first_step.output }}B{{ kept }}C{{ other }}D"}
    """)
    result = await rillet.run_async(flow, unset_names="empty", quiet=True, **run_opts)
    assert result["e"].variables == {"text": "ABKCD"}


async def test_an_unknown_policy_is_refused(write_workflow, run_opts):
    with pytest.raises(ValueError, match="unset_names must be one of error, empty"):
        await rillet.run_async(write_workflow(FLOW), unset_names="blank", **run_opts)
