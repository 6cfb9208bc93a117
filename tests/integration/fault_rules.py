"""The simulator script the Anthropic API and Gemini SDK tests share: one rule per
behaviour under test (pacing, overloads, drops, a malformed event, thinking, a tool)."""

from __future__ import annotations

from typing import Any

STORY = ("The river kept its own time, slow in the mornings and quick after rain, and the "
         "village learned to read it the way other places read clocks.")
PACED = {"first_token_delay_s": 0.05, "tokens_per_second": 100, "jitter": 0}
FAST = {"pattern": "fast"}


def fault_rules(overload_status: int) -> list[dict[str, Any]]:
    """`overload_status`: what "overloaded once" answers (each API has its own)."""
    return [
        {"match": "tell the river story", "text": STORY, "timing": PACED},
        {"match": "overloaded once", "text": STORY, "timing": FAST,
         "fault": {"kind": "http_error", "status": overload_status, "times": 1}},
        {"match": "always overloaded", "text": STORY, "timing": FAST,
         "fault": {"kind": "http_error", "status": 529, "times": 50}},
        {"match": "drop once", "text": STORY, "timing": FAST,
         "fault": {"kind": "drop", "after_deltas": 5, "times": 1}},
        {"match": "always drops", "text": STORY, "timing": FAST,
         "fault": {"kind": "drop", "after_deltas": 5}},
        {"match": "malformed", "text": STORY, "timing": FAST,
         "fault": {"kind": "malformed", "after_deltas": 4}},
        {"match": "slow story", "text": STORY * 4,
         "timing": {"first_token_delay_s": 0.02, "tokens_per_second": 20, "jitter": 0}},
        {"match": "think first", "thinking": "Weigh both options, then pick one.",
         "text": STORY, "timing": FAST},
        {"match": "use the tool", "text": "unused here", "timing": FAST,
         "tool_use": {"name": "lookup", "input": {"query": "rivers", "limit": 3}}},
    ]
