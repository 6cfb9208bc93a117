"""claude_session: a named conversation that later steps and later runs continue."""

from __future__ import annotations

import json
import textwrap

import pytest

import rillet
from rillet.errors import WorkflowError
from rillet.workflow.loader import loads_workflow

TWO_STEPS = """\
workflow:
  name: sess
  steps:
    - name: tutor
      type: claude_session
      session_config: {{session_name: tutoring, persist: {persist}, fork: {fork}}}
      prompt: "Teach me one thing about rivers"
      mock: Rivers carve valleys.
    - name: more
      type: claude
      prompt:
        - type: session_context
          session_id: tutoring
        - type: claude_continue
          session_id: tutoring
          new_prompt: "And one more thing"
      mock: They also carry sediment.
"""


@pytest.fixture
def spy(monkeypatch):
    """The requests the pool opens, by step (a list per run)."""
    from rillet.providers import registry

    seen: list[dict] = []
    original = registry.ProviderPool.open_stream

    def open_stream(self, request, kind):
        seen.append({"step": request.step, "options": dict(request.options),
                     "prompt": request.prompt})
        return original(self, request, kind)

    monkeypatch.setattr(registry.ProviderPool, "open_stream", open_stream)
    return seen


def run(tmp_path, persist: bool = True, fork: bool = False):
    path = tmp_path / "flow.yaml"
    path.write_text(TWO_STEPS.format(persist=str(persist).lower(), fork=str(fork).lower()))
    return rillet.run(path, mode="mock", output_dir=tmp_path / "out",
                      workspace_dir=tmp_path / "ws")


def saved(tmp_path) -> dict:
    return json.loads((tmp_path / "ws" / ".rillet" / "sessions" / "tutoring.json").read_text())


def test_a_persisted_session_is_continued_by_later_steps_and_later_runs(tmp_path, spy):
    first = run(tmp_path)
    session_id = first["tutor"].session_id
    assert first.success and session_id
    # In the same run, claude_continue resumes it and session_context quotes it.
    more = next(r for r in spy if r["step"] == "more")
    assert more["options"]["resume"] == session_id
    assert more["prompt"].startswith("Earlier in the conversation 'tutoring':\n\n"
                                     "User: Teach me one thing about rivers\n\n"
                                     "Assistant: Rivers carve valleys.")
    assert more["prompt"].endswith("And one more thing")

    second = run(tmp_path)
    tutor_again = [r for r in spy if r["step"] == "tutor"][1]
    assert tutor_again["options"]["resume"] == session_id  # the next run continues it
    assert second["tutor"].session_id == session_id
    turns = saved(tmp_path)["turns"]
    assert [t["run_id"] for t in turns] == [first.run_id, second.run_id]
    assert saved(tmp_path)["session_id"] == session_id


def test_a_session_that_does_not_persist_starts_afresh_each_run(tmp_path, spy):
    first = run(tmp_path, persist=False)
    second = run(tmp_path, persist=False)
    tutors = [r for r in spy if r["step"] == "tutor"]
    assert "resume" not in tutors[1]["options"]
    assert second["tutor"].session_id != first["tutor"].session_id
    assert [t["run_id"] for t in saved(tmp_path)["turns"]] == [second.run_id]


def test_a_forked_session_resumes_a_copy(tmp_path, spy):
    first = run(tmp_path, fork=True)
    run(tmp_path, fork=True)
    tutor_again = [r for r in spy if r["step"] == "tutor"][1]
    assert tutor_again["options"]["resume"] == first["tutor"].session_id
    assert tutor_again["options"]["fork_session"] is True
    # The saved conversation is the one the first run started, with its turn alone.
    assert saved(tmp_path)["session_id"] == first["tutor"].session_id
    assert [t["run_id"] for t in saved(tmp_path)["turns"]] == [first.run_id]


def test_continuing_a_session_that_never_started_is_a_clear_error(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent("""\
        workflow:
          name: lost
          steps:
            - name: more
              type: claude
              prompt: [{type: claude_continue, session_id: nowhere, new_prompt: go on}]
        """))
    result = rillet.run(path, mode="mock", output_dir=tmp_path / "o", workspace_dir=tmp_path)
    assert result.status == "failed"
    assert "claude_continue: session 'nowhere' has not started" in result.error


CONVERSATION = """\
workflow:
  name: conv
  steps:
    - name: chat
      type: claude_session
      session_config: {session_id: tutoring, checkpoint_interval: 1, max_session_turns: 3}
      conversation:
        - turn: 1
          prompt: [{type: static, content: "What is 7+8?"}]
          claude_options: {output_format: text}
          mock: "15"
        - turn: 2
          prompt: [{type: static, content: "And times 2?"}]
          claude_options: {max_turns: 2}
          mock: "30"
    - name: after
      type: echo
      value: "{{steps.chat[1].text}}"
"""


def test_a_conversation_sends_each_turn_in_the_session_in_order(tmp_path, spy):
    path = tmp_path / "flow.yaml"
    path.write_text(CONVERSATION)
    result = rillet.run(path, mode="mock", output_dir=tmp_path / "out",
                        workspace_dir=tmp_path / "ws")
    assert result.success, result.error
    first, second = [r for r in spy if r["step"].startswith("chat")]
    assert (first["step"], second["step"]) == ("chat[0]", "chat[1]")
    assert "resume" not in first["options"]
    assert second["options"]["resume"] == result["chat"].children[0].session_id
    assert second["options"]["max_turns"] == 2 and first["options"]["max_turns"] == 5
    assert (first["prompt"], second["prompt"]) == ("What is 7+8?", "And times 2?")
    assert json.loads(result["chat"].text) == ["15", "30"]
    assert result["after"].text == "30"
    turns = saved(tmp_path)["turns"]  # session_id named the session
    assert [(t["prompt"], t["text"]) for t in turns] == [("What is 7+8?", "15"),
                                                          ("And times 2?", "30")]


def test_a_conversation_longer_than_max_session_turns_is_refused():
    text = CONVERSATION.replace("max_session_turns: 3", "max_session_turns: 1")
    with pytest.raises(WorkflowError, match=r"the conversation has 2 turns, more than "
                                            r"session_config.max_session_turns \(1\)"):
        loads_workflow(text)


def test_a_turn_past_max_session_turns_fails(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(CONVERSATION.replace("max_session_turns: 3", "max_session_turns: 2")
                    + """\
    - name: third
      type: claude_session
      session_config: {session_name: tutoring, max_session_turns: 2}
      prompt: "And once more?"
""")
    result = rillet.run(path, mode="mock", output_dir=tmp_path / "out",
                        workspace_dir=tmp_path / "ws")
    assert result.status == "failed" and result.failed_step == "third"
    assert "session 'tutoring' already has 2 turns" in result.error


@pytest.mark.parametrize("change, message", [
    ("turn: 2", "conversation\\[0\\] says turn: 2, but the turns are sent in the list's "
                "order"),
    ("session_config: {session_id: tutoring,",
     "session_config: {session_name: other, session_id: tutoring,"),
])
def test_conversation_mistakes_are_refused(change, message):
    if change == "turn: 2":
        text = CONVERSATION.replace("- turn: 1", "- turn: 2", 1)
        match = message
    else:
        text = CONVERSATION.replace(change, message)
        match = "session_id and session_name both name the session; keep one"
    with pytest.raises(WorkflowError, match=match):
        loads_workflow(text)


def test_a_prompt_and_a_conversation_together_are_refused():
    text = CONVERSATION.replace("      conversation:", "      prompt: hi\n      conversation:")
    with pytest.raises(WorkflowError, match="give either prompt .one turn. or conversation"):
        loads_workflow(text)


def test_checkpoint_interval_is_met_by_saving_every_turn():
    step = loads_workflow(CONVERSATION).steps[0]
    assert step.session_config.checkpoint_interval == 1
    assert step.session_config.session_name == "tutoring"


@pytest.mark.parametrize("key, why", [("checkpoint_frequency: 0", "greater than or equal "
                                                                  "to 1"),
                                      ("continue_on_restart: true", "use persist: true")])
def test_pipeline_ex_session_keys_with_no_meaning_are_refused(key, why):
    text = ("workflow:\n  name: s\n  steps:\n    - name: t\n      type: claude_session\n"
            f"      prompt: go\n      session_config: {{{key}}}\n")
    with pytest.raises(WorkflowError, match=why):
        loads_workflow(text)


def test_any_checkpoint_frequency_is_met_by_saving_every_turn():
    text = ("workflow:\n  name: s\n  steps:\n    - name: t\n      type: claude_session\n"
            "      prompt: go\n      session_config: {checkpoint_frequency: 5}\n")
    step, = loads_workflow(text).steps
    assert step.session_config.checkpoint_frequency == 5
