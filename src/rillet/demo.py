"""`rillet demo`: one Claude answer streamed token by token through the real Claude Agent
SDK and its bundled CLI — on the built-in simulator when no API key is set, live
otherwise — with the metrics measured as it flows.

This is what the engine's parts do together today; once the workflow layer lands,
`make demo` runs examples/showcase.yaml instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import TextIO

from rillet.events import TextDelta, ThinkingDelta
from rillet.providers.base import ModelRequest

PROMPT = "Plan a short blog post about streaming LLM output in Python: five bullet points."


async def stream_demo(out: TextIO, *, live: bool, base_url: str | None,
                      prompt: str = PROMPT) -> int:
    from rillet.errors import StepError
    from rillet.providers.claude_agent import ClaudeAgentProvider
    from rillet.streaming.response import AsyncResponse

    mode = "live" if live else "sim"
    provider = ClaudeAgentProvider(mode=mode, base_url=base_url)
    request = ModelRequest(step="outline", prompt=prompt, mode=mode, base_url=base_url,
                           options={"max_turns": 1})
    response = AsyncResponse("outline", provider.stream(request))
    try:
        async for event in response:
            if type(event) is TextDelta or type(event) is ThinkingDelta:
                out.write(event.text)
                out.flush()
        result = response.result()
    except StepError as exc:
        out.write(f"\n✗ {exc}\n  text kept: {len(exc.partial_text)} characters\n")
        return 1
    finally:
        await provider.aclose()
    m = result.metrics
    out.write(f"\n\n— {m['ttft_s']:.2f} s to first token · {result.output_tokens} tokens · "
              f"{m['deltas']} deltas · {m['tokens_per_second'] or 0:.1f} tok/s · "
              f"{m['duration_s']:.2f} s · ${result.cost_usd:.4f}\n")
    return 0


def has_live_credentials() -> bool:
    """An API key or token in the environment, or a logged-in Claude CLI."""
    if any(os.environ.get(name) for name in
           ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")):
        return True
    return (Path.home() / ".claude" / ".credentials.json").exists()


def main(out: TextIO = sys.stdout) -> int:
    live = has_live_credentials()
    with contextlib.ExitStack() as stack:
        base_url = None
        if live:
            out.write("rillet demo ▸ live: the Claude Agent SDK with your credentials\n\n")
        else:
            from rillet.sim.server import SimulatorThread

            sim = stack.enter_context(SimulatorThread())
            base_url = sim.base_url
            out.write("rillet demo ▸ no API key found: the real Claude Agent SDK and its "
                      f"bundled CLI, streaming from the built-in simulator at {base_url}\n\n")
        return asyncio.run(stream_demo(out, live=live, base_url=base_url))
