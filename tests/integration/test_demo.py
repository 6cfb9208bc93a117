"""`rillet demo` streams through the real Claude Agent SDK + CLI from the simulator."""

from __future__ import annotations

import io

import pytest

from rillet.demo import stream_demo


@pytest.mark.sdk
async def test_demo_streams_the_script_text_and_prints_measured_metrics(sim):
    out = io.StringIO()
    code = await stream_demo(out, live=False, base_url=sim.base_url)
    text = out.getvalue()
    assert code == 0
    body, footer = text.rsplit("\n\n— ", 1)
    from rillet.demo import PROMPT

    expected = sim.script.reply_for(PROMPT).for_prompt(PROMPT).text
    assert body.split("\n", 0)[0].strip() == expected.strip()
    assert "s to first token" in footer and "tok/s" in footer and "$" in footer
