"""The Claude step family through the real Claude Agent SDK, its CLI and the anthropic SDK
against the simulator: a robust step falling back after a 529 storm, a smart step's preset
reaching the CLI."""

from __future__ import annotations

import textwrap

import pytest

import rillet
from rillet.events import StreamRetry
from rillet.sim.script import Script

pytestmark = pytest.mark.sdk

ANSWER = "The storm has passed and here is the answer."


class Events:
    def __init__(self) -> None:
        self.events: list = []

    def on_event(self, event) -> None:
        self.events.append(event)


async def run(tmp_path, text: str, sim, events: Events):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(text))
    return await rillet.run_async(path, mode="sim", sim_base_url=sim.base_url,
                                  output_dir=tmp_path / "out", workspace_dir=tmp_path / "ws",
                                  listeners=[events])


async def test_a_robust_step_falls_back_to_the_messages_api_after_a_529_storm(tmp_path,
                                                                           sim_factory):
    sim = await sim_factory(Script.model_validate({"rules": [
        {"match": "storm", "text": ANSWER, "timing": {"pattern": "fast"},
         "fault": {"kind": "http_error", "status": 529, "times": 2}}]}))
    events = Events()
    result = await run(tmp_path, """\
        workflow:
          name: robust
          steps:
            - name: r
              type: claude_robust
              claude_options:
                env: {CLAUDE_CODE_MAX_RETRIES: "0"}
              prompt: Answer through the storm
              retry_config: {max_retries: 1, base_delay_ms: 1}
              fallbacks: [{provider: anthropic_api, model: claude-haiku-4-5}]
        """, sim, events)

    assert result.status == "completed", result.error
    assert result["r"].text == ANSWER and result["r"].model == "claude-haiku-4-5"
    retries = [e for e in events.events if type(e) is StreamRetry]
    assert [r.whole for r in retries] == [True, True]
    # Two CLI requests refused with 529, then the Messages API request that got through.
    paths = [r.path for r in sim.requests if r.path.startswith("/v1/messages")]
    assert len(paths) == 3
    assert sim.requests[-1].body["model"] == "claude-haiku-4-5"
    assert "tools" not in sim.requests[-1].body  # the SDK call, not the CLI's


async def test_graceful_degradation_through_the_cli_marks_the_step_and_goes_on(tmp_path,
                                                                               sim_factory):
    sim = await sim_factory(Script.model_validate({"rules": [
        {"match": "storm", "text": ANSWER, "timing": {"pattern": "fast"},
         "fault": {"kind": "http_error", "status": 529, "times": 10}},
        {"match": "brief, simple response for: s", "text": "Short.",
         "timing": {"pattern": "fast"}}]}))
    events = Events()
    result = await run(tmp_path, """\
        workflow:
          name: robust
          steps:
            - name: r
              type: claude_robust
              preset: chat
              claude_options: {env: {CLAUDE_CODE_MAX_RETRIES: "0"}}
              prompt: Answer through the storm
              retry_config: {max_retries: 1, base_delay_ms: 1,
                             fallback_action: graceful_degradation}
            - name: s
              type: claude_robust
              preset: chat
              claude_options: {env: {CLAUDE_CODE_MAX_RETRIES: "0"}}
              prompt: Answer through the storm again
              retry_config: {max_retries: 0, fallback_action: simplified_prompt}
        """, sim, events)

    assert result.status == "completed", result.error
    assert result.degraded == ["r", "s"]
    degraded = result["r"]
    assert degraded.status == "degraded" and degraded.text == ""
    assert "fallback_action: graceful_degradation" in degraded.error
    simplified = result["s"]
    assert simplified.status == "degraded" and simplified.text == "Short."
    assert "Provide a brief, simple response for: s" in simplified.error
    prompts = [str(r.body.get("messages", [])) for r in sim.requests
               if r.path.startswith("/v1/messages")]
    # r: two refused attempts; s: one refused attempt, then the simplified prompt.
    assert len(prompts) == 4 and "brief, simple response for: s" in prompts[-1]


async def test_a_chat_preset_starts_the_cli_with_no_tools(tmp_path, sim_factory):
    sim = await sim_factory(Script.model_validate({"rules": [
        {"match": "hello", "text": "Hello!", "timing": {"pattern": "fast"}}]}))
    events = Events()
    result = await run(tmp_path, """\
        workflow:
          name: smart
          steps:
            - {name: s, type: claude_smart, preset: chat, prompt: say hello}
        """, sim, events)

    assert result.status == "completed", result.error
    assert result["s"].text == "Hello!"
    body = sim.requests[-1].body
    assert not [t["name"] for t in body.get("tools", []) if t["name"] in ("Bash", "Write")]
    assert "You are a helpful assistant. Provide clear, concise responses." in str(
        body.get("system"))


async def test_a_session_is_continued_across_two_runs_through_the_cli(tmp_path, sim_factory):
    sim = await sim_factory(Script.model_validate({"rules": [
        {"match": "one more thing", "text": "They also carry sediment.",
         "timing": {"pattern": "fast"}},
        {"match": "about rivers", "text": "Rivers carve valleys.",
         "timing": {"pattern": "fast"}}]}))
    flow = """\
        workflow:
          name: sess
          steps:
            - name: tutor
              type: claude_session
              session_config: {session_name: tutoring, persist: true}
              prompt: "{prompt}"
        """
    first = await run(tmp_path, flow.replace("{prompt}", "Teach me one thing about rivers"),
                      sim, Events())
    second = await run(tmp_path, flow.replace("{prompt}", "Tell me one more thing"), sim,
                       Events())

    assert first.success and second.success, (first.error, second.error)
    assert second["tutor"].session_id == first["tutor"].session_id
    assert second["tutor"].text == "They also carry sediment."
    # The second run's request carries the first run's conversation: the CLI resumed it.
    history = str(sim.requests[-1].body["messages"])
    assert "Teach me one thing about rivers" in history and "Rivers carve valleys." in history


async def test_gemini_function_calls_stream_as_tool_uses_through_google_genai(tmp_path,
                                                                             sim_factory):
    from rillet.events import ToolUse

    sim = await sim_factory(Script.model_validate({"rules": [
        {"match": "analyze_code", "timing": {"pattern": "fast"},
         "output": {"quality_score": 4, "issues": ["x[0] fails on []"]}}]}))
    events = Events()
    result = await run(tmp_path, """\
        workflow:
          name: fn
          gemini_functions:
            analyze_code:
              description: Analyze code for quality and issues
              parameters:
                type: object
                properties:
                  quality_score: {type: integer}
                  issues: {type: array, items: {type: string}}
          steps:
            - name: review
              type: gemini_instructor
              functions: [analyze_code]
              prompt: "Call analyze_code for: def f(x): return x[0]"
        """, sim, events)

    assert result.status == "completed", result.error
    uses = [e for e in events.events if type(e) is ToolUse]
    assert [(u.name, u.input) for u in uses] == [
        ("analyze_code", {"quality_score": 4, "issues": ["x[0] fails on []"]})]
    declared = sim.requests[-1].body["tools"][0]["functionDeclarations"][0]
    assert declared["name"] == "analyze_code"
    # No implementation: the call ends the step and its arguments are the output.
    assert len(sim.requests) == 1
    assert result["review"].output == {"quality_score": 4, "issues": ["x[0] fails on []"]}
