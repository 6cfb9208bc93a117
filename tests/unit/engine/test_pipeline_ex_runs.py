"""pipeline_ex forms at run time on the mock provider."""

from __future__ import annotations

import io
import re

import pytest

import rillet


async def test_output_to_file_templates_are_filled_in(write_workflow, run_opts, tmp_path):
    flow = write_workflow("""
        workflow:
          name: t
          inputs: {kind: review}
          steps:
            - name: a
              type: claude
              output_to_file: "{{ kind }}_{{ timestamp }}.md"
              prompt: x
              mock: "The review."
    """)
    result = await rillet.run_async(flow, **run_opts)
    assert result.status == "completed"
    [written] = (tmp_path / "out").glob("review_*.md")
    assert re.fullmatch(r"review_\d{8}-\d{6}\.md", written.name)
    assert written.read_text() == "The review."


async def test_an_output_path_that_escapes_once_filled_in_fails_the_step(
        write_workflow, run_opts, tmp_path):
    flow = write_workflow("""
        workflow:
          name: t
          inputs: {where: "../outside.md"}
          steps:
            - {name: a, type: claude, output_to_file: "{{ where }}", prompt: x, mock: "hi"}
    """)
    result = await rillet.run_async(flow, **run_opts)
    assert result.status == "failed"
    assert "must be relative and stay inside the output directory" in result.error
    assert not (tmp_path / "outside.md").exists()


async def test_an_output_path_through_a_symlink_out_is_refused(write_workflow, run_opts,
                                                               tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path / "elsewhere")
    flow = write_workflow("""
        workflow:
          name: t
          steps:
            - {name: a, type: claude, output_to_file: link/x.md, prompt: x, mock: "hi"}
    """)
    result = await rillet.run_async(flow, **run_opts)
    assert result.status == "failed"
    assert "through a symlink" in result.error
    assert not (tmp_path / "elsewhere" / "x.md").exists()


async def test_structured_conditions_and_step_paths_decide_what_runs(write_workflow, run_opts):
    flow = write_workflow("""
        workflow:
          name: t
          steps:
            - {name: review, type: claude, prompt: x, mock: '{"score": 9}'}
            - name: ship
              type: claude
              prompt: x
              mock: shipped
              condition: {and: ["review.score >= 8", {not: "review.score > 10"}]}
            - name: rework
              type: claude
              prompt: x
              mock: reworked
              condition: "{{ steps.review.result.score < 8 }}"
    """)
    result = await rillet.run_async(flow, **run_opts)
    assert result.status == "completed"
    assert result["ship"].text == "shipped"
    assert result.skipped == ["rework"]


async def test_timeout_ms_closes_the_stream_and_keeps_the_text(write_workflow, run_opts):
    flow = write_workflow("""
        workflow:
          name: t
          steps:
            - name: slow
              type: claude
              prompt: x
              claude_options: {timeout_ms: 200}
              mock:
                text: "one two three four five six seven eight nine ten"
                timing: {first_token_delay_s: 0, tokens_per_second: 10}
    """)
    result = await rillet.run_async(flow, **run_opts)
    assert result.status == "failed"
    assert "timed out after 0.2 s" in result.error
    assert result["slow"].text  # some words had arrived
    assert len(result["slow"].text) < len("one two three four five six seven eight nine ten")


VERBOSE_FLOW = """
    workflow:
      name: t
      steps:
        - name: weather
          type: claude
          stream_handler: console
          claude_options: {{verbose: {verbose}}}
          prompt: "Weather in Paris?"
          mock:
            text: "Sunny."
            tool_use: {{name: get_weather, input: {{city: Paris}}}}
"""


@pytest.mark.parametrize("verbose", [True, False])
async def test_verbose_decides_whether_the_console_shows_tool_calls(write_workflow, run_opts,
                                                                    verbose):
    out = io.StringIO()
    flow = write_workflow(VERBOSE_FLOW.format(verbose=str(verbose).lower()))
    result = await rillet.run_async(flow, stdout=out, **run_opts)
    assert result.status == "completed"
    assert "Sunny." in out.getvalue()
    assert ("get_weather" in out.getvalue()) is verbose


async def test_output_to_file_is_filled_in_per_loop_iteration(write_workflow, run_opts,
                                                              tmp_path):
    flow = write_workflow("""
        workflow:
          name: t
          steps:
            - name: each
              type: for_loop
              data_source: [red, blue]
              steps:
                - name: note
                  type: claude
                  output_to_file: "notes/{{ loop.index }}_{{ loop.item }}.md"
                  prompt: "About {{ loop.item }}"
                  mock: "A note."
    """)
    result = await rillet.run_async(flow, **run_opts)
    assert result.status == "completed", result.error
    written = sorted(p.name for p in (tmp_path / "out" / "notes").iterdir())
    assert written == ["0_red.md", "1_blue.md"]


async def test_container_conditions_take_and_or_not_mappings(write_workflow, run_opts):
    flow = write_workflow("""
        workflow:
          name: t
          steps:
            - name: again
              type: while_loop
              max_iterations: 10
              condition:
                and:
                  - "loop.iteration < 3"
                  - not: "loop.iteration == 5"
              steps:
                - {name: tick, type: echo, value: "{{ loop.iteration }}"}
            - name: each
              type: for_loop
              data_source: [1, 2, 3, 4]
              continue_condition:
                or: ["loop.item == 2", "loop.item == 99"]
              break_condition: ["loop.item >= 3", true]
              steps:
                - {name: seen, type: echo, value: "{{ loop.item }}"}
    """)
    result = await rillet.run_async(flow, **run_opts)
    assert result.status == "completed", result.error
    assert len(result.results["again"].children) == 3
    seen = [c["seen"].text if c else None for c in result.results["each"].children]
    assert seen == ["1", None, "3"]
