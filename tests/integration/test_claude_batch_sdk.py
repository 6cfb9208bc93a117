"""claude_batch through the real Claude Agent SDK and CLI on the simulator: the tasks
stream at once under NAME[i], within max_parallel and the run-wide cap on CLI processes."""

from __future__ import annotations

import textwrap

import pytest

import rillet
from rillet.events import StepStarted

from test_claude_agent_sdk import cli_pids
from test_tree_sdk import Recorder, options, overlapped

pytestmark = pytest.mark.sdk


def test_a_batch_streams_each_task_through_its_own_cli_within_the_caps(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent("""\
        workflow:
          name: batch
          steps:
            - name: batch
              type: claude_batch
              batch_config: {max_parallel: 3}
              claude_options: {max_turns: 1}
              prompt: "One sentence, please."
              tasks:
                - {task_id: rivers, prompt: "Why do rivers meander?"}
                - {task_id: tides, prompt: "What causes tides?"}
                - {task_id: deltas, prompt: "How do deltas form?"}
        """))
    recorder = Recorder()
    result = rillet.run(flow, max_claude_processes=2, **options(tmp_path, recorder))

    assert result.success, result.error
    tasks = result["batch"].children
    assert [t.step for t in tasks] == ["batch[0]", "batch[1]", "batch[2]"]
    for task in tasks:
        assert task.text == recorder.text(task.step) != ""
        assert task.session_id and task.output_tokens > 0
    started = {e.step: e.provider for e in recorder.events if type(e) is StepStarted}
    assert started == {"batch": None, "batch[0]": "claude_agent",
                       "batch[1]": "claude_agent", "batch[2]": "claude_agent"}
    assert overlapped(recorder, "batch[0]", "batch[1]")  # two CLIs streaming at once
    assert recorder.most_cli == 2  # the run-wide cap, below max_parallel
    assert not cli_pids()  # none left running
