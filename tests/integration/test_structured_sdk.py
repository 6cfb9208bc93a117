"""output_schema through the real SDKs (and the Claude CLI) against the simulator: each
provider's own mechanism asks for the object, it streams as PartialOutput, and a mismatch
is repaired once."""

from __future__ import annotations

import json

import pytest

import rillet
from rillet.events import PartialOutput, StreamRetry
from rillet.sim.script import Script

pytestmark = pytest.mark.sdk

KINDS = {"claude_agent": "type: claude",
         "anthropic_api": "type: claude\n    provider: anthropic_api",
         "gemini": "type: gemini"}
GOOD = {"severity": "high", "reasons": ["the lock is never released", "no test covers it"]}
BAD = {"severity": "urgent", "reasons": []}


def flow(kind: str) -> str:
    return f"""\
workflow:
  name: structured
  steps:
  - name: verdict
    {KINDS[kind]}
    prompt: Judge the change to the cache lock.
    output_schema:
      type: object
      required: [severity, reasons]
      properties:
        severity: {{enum: [low, medium, high]}}
        reasons: {{type: array, items: {{type: string}}, minItems: 1}}
"""


class Events:
    def __init__(self) -> None:
        self.events: list = []

    def on_event(self, event) -> None:
        self.events.append(event)

    def of(self, kind):
        return [e for e in self.events if type(e) is kind]


def script(*rules: dict) -> Script:
    paced = {"first_token_delay_s": 0, "tokens_per_second": 160, "chunk_tokens": 1,
             "jitter": 0}
    return Script.model_validate({"timing": paced,
                                  "rules": list(rules)})


@pytest.mark.parametrize("kind", KINDS)
async def test_each_sdk_asks_for_the_object_its_own_way_and_it_streams(kind, tmp_path,
                                                                       sim_factory):
    sim = await sim_factory(script({"match": "cache lock", "output": GOOD}))
    path = tmp_path / "flow.yaml"
    path.write_text(flow(kind))
    events = Events()
    result = await rillet.run_async(path, mode="sim", sim_base_url=sim.base_url,
                                    output_dir=tmp_path / "out", workspace_dir=tmp_path / "ws",
                                    listeners=[events])

    assert result.status == "completed", result.error
    assert result["verdict"].output == GOOD
    assert json.loads(result["verdict"].text) == GOOD
    assert len(events.of(PartialOutput)) > 5
    body = sim.requests[-1].body
    if kind == "claude_agent":  # the CLI's --json-schema: a StructuredOutput tool
        tool = next(t for t in body["tools"] if t["name"] == "StructuredOutput")
        assert tool["input_schema"]["required"] == ["severity", "reasons"]
    elif kind == "anthropic_api":  # Messages API structured outputs
        schema = body["output_config"]["format"]["schema"]
        assert body["output_config"]["format"]["type"] == "json_schema"
        assert schema["additionalProperties"] is False  # the SDK's transform_schema
    else:  # Gemini's JSON mode with a schema
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        assert body["generationConfig"]["responseJsonSchema"]["required"] == [
            "severity", "reasons"]


@pytest.mark.parametrize("kind", ["anthropic_api", "gemini", "claude_agent"])
async def test_a_mismatch_is_repaired_once_through_the_real_sdk(kind, tmp_path, sim_factory):
    sim = await sim_factory(script(
        {"match": "does not fit the required JSON schema", "output": GOOD},
        {"match": "cache lock", "output": BAD}))
    path = tmp_path / "flow.yaml"
    path.write_text(flow(kind))
    events = Events()
    result = await rillet.run_async(path, mode="sim", sim_base_url=sim.base_url,
                                    output_dir=tmp_path / "out", workspace_dir=tmp_path / "ws",
                                    listeners=[events])

    assert result.status == "completed", result.error
    assert result["verdict"].output == GOOD
    assert json.loads(result["verdict"].text) == GOOD
    assert [r.whole for r in events.of(StreamRetry)] == [True]
