"""console: live text, thinking, tools, header and footer; colours only on a TTY."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace

import pytest

from handler_streams import STEP, FakeTTY, claude_events, retried_events, run_step
from rillet.events import MessageComplete, StepStarted, TextDelta, Usage
from rillet.result import StepResult
from rillet.streaming.handler import create_handler, validate_options
from rillet.streaming.handlers.console import MAX_HELD_DELTAS, ConsoleHandler, QuietConsole

TEXT = "Use [bold]brackets[/bold] freely: a[0] = b[1].\nSecond line."


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def settle() -> None:
    """Let the loop run its ready callbacks (a flush timer of 0 ms)."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_text_header_and_footer_with_real_figures(ctx):
    handler = create_handler("console", {}, ctx)
    result, warnings = await run_step([handler], claude_events(text=TEXT))
    out = ctx.stdout.getvalue()
    assert warnings == []
    assert out.startswith("▶ draft · claude-sonnet-4-5 · claude_agent\n")
    assert TEXT in out  # written as is: no markup parsing eats the brackets
    footer = out.rstrip("\n").rsplit("\n", 1)[1]
    assert footer.startswith("■ draft · TTFT ")
    assert f" · {result.output_tokens} tokens · " in footer
    assert " tok/s · " in footer and f"${result.metrics['cost_usd']:.4f}" in footer
    assert "\x1b[" not in out  # not a TTY: no colour codes


async def test_text_reaches_the_stream_when_the_loop_gets_a_moment(ctx):
    stream = CountingStream()
    handler = create_handler("console", {"flush_interval_ms": 0}, replace(ctx, stdout=stream))
    for word in ["one", " two", " three"]:
        handler.on_event(TextDelta(STEP, word))
    assert stream.getvalue() == ""  # a burst is held…
    await settle()
    assert stream.getvalue() == "one two three"  # …and written, as one write, at once
    assert stream.writes == 1
    handler.on_event(TextDelta(STEP, " four"))
    await settle()
    assert stream.getvalue() == "one two three four"
    handler.close()


async def test_a_burst_longer_than_the_interval_still_appears_before_the_step_ends(ctx):
    handler = create_handler("console", {"flush_interval_ms": 1}, ctx)
    handler.on_event(TextDelta(STEP, "early"))
    await asyncio.sleep(0.05)
    assert ctx.stdout.getvalue() == "early"
    handler.close()


def test_a_producer_that_never_yields_gets_text_out_every_max_held_deltas(ctx):
    handler = ConsoleHandler(validate_options("console", {}), ctx)  # no running loop
    for _ in range(MAX_HELD_DELTAS - 1):
        handler.on_event(TextDelta(STEP, "x"))
    assert ctx.stdout.getvalue() == ""
    handler.on_event(TextDelta(STEP, "x"))
    assert ctx.stdout.getvalue() == "x" * MAX_HELD_DELTAS


def test_held_text_is_written_before_the_next_non_text_event(ctx):
    handler = create_handler("console", {}, ctx)
    handler.on_event(TextDelta(STEP, "held"))
    handler.on_event(Usage(STEP, 10, 2))  # running totals, often per chunk: no write
    assert ctx.stdout.getvalue() == ""
    handler.on_event(MessageComplete(STEP, "end_turn", "m"))
    # whoever writes next to the same stream (the run reporter) comes after the text
    assert ctx.stdout.getvalue() == "held"


@pytest.mark.parametrize("choice, stream, coloured", [
    ("auto", FakeTTY(), True), ("auto", io.StringIO(), False),
    ("always", io.StringIO(), True), ("never", FakeTTY(), False),
])
async def test_colour_only_on_a_tty_unless_told(ctx, choice, stream, coloured, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    handler = create_handler("console", {"color": choice}, replace(ctx, stdout=stream))
    await run_step([handler], claude_events(text="Hi.", thinking="Hmm."))
    out = stream.getvalue()
    assert ("\x1b[" in out) is coloured
    assert "Hi." in out


async def test_no_color_turns_auto_colour_off(ctx, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    handler = create_handler("console", {}, replace(ctx, stdout=FakeTTY()))
    await run_step([handler], claude_events(text="Hi."))
    assert "\x1b[" not in handler.stream.getvalue()


async def test_thinking_is_dim_and_labelled_then_text_starts_on_a_new_line(ctx):
    handler = create_handler("console", {"color": "always"}, ctx)
    await run_step([handler], claude_events(text="Answer.", thinking="Let me see."))
    out = ctx.stdout.getvalue()
    assert "\x1b[2m(thinking) Let me see.\x1b[0m\nAnswer." in out


async def test_thinking_can_be_hidden(ctx):
    handler = create_handler("console", {"show_thinking": False}, ctx)
    await run_step([handler], claude_events(text="Answer.", thinking="Secret musing."))
    out = ctx.stdout.getvalue()
    assert "Secret musing" not in out and "(thinking)" not in out and "Answer." in out


async def test_tool_use_and_result_get_one_short_line_each(ctx):
    handler = create_handler("console", {}, ctx)
    await run_step([handler], claude_events(
        text="Done.", tool_use={"name": "Bash", "input": {"command": "ls -la"}}))
    lines = ctx.stdout.getvalue().splitlines()
    assert '⚙ Bash {"command": "ls -la"}' in lines
    assert "  ↳ (mock run: Bash was not run)" in lines
    assert "Done." in lines


async def test_long_tool_previews_are_cut_and_tools_can_be_hidden(ctx):
    long_input = {"command": "echo " + "x" * 500}
    handler = create_handler("console", {"preview_chars": 20}, ctx)
    await run_step([handler], claude_events(text="ok", tool_use={"name": "Bash",
                                                                 "input": long_input}))
    tool_line = next(l for l in ctx.stdout.getvalue().splitlines() if l.startswith("⚙"))
    assert tool_line == '⚙ Bash {"command": "echo x…'  # 20 characters with the "…"

    hidden = replace(ctx, stdout=io.StringIO())
    handler = create_handler("console", {"show_tools": False}, hidden)
    await run_step([handler], claude_events(text="ok", tool_use={"name": "Bash",
                                                                 "input": long_input}))
    assert "⚙" not in hidden.stdout.getvalue() and "↳" not in hidden.stdout.getvalue()


async def test_a_retry_is_announced_and_the_text_comes_again(ctx):
    handler = create_handler("console", {}, ctx)
    result, _ = await run_step([handler], retried_events("alpha beta gamma", 2))
    out = ctx.stdout.getvalue()
    void, after = out.split("↻ ", 1)
    assert void.endswith("alpha beta\n")
    assert after.startswith("retry 1: the API request failed (529)")
    assert "— the text above is void and comes again\n" in after
    assert "\nalpha beta gamma\n■ draft" in after
    assert "1 retry" in after
    assert result.text == "alpha beta gamma"


async def test_a_failed_step_ends_with_its_partial_figures(ctx):
    handler = create_handler("console", {}, ctx)
    partial, _ = await run_step([handler], claude_events(text="one two three four"),
                                fail_after=4)
    out = ctx.stdout.getvalue()
    assert partial.status == "failed" and partial.text
    assert out.rstrip("\n").rsplit("\n", 1)[1].startswith("■ draft failed · TTFT ")
    assert partial.text + "\n■ draft failed" in out


def test_footer_leaves_out_what_was_not_measured(ctx):
    handler = create_handler("console", {}, ctx)
    handler.on_complete(StepResult(step=STEP, text="x", metrics={
        "ttft_s": None, "duration_s": 1.5, "output_tokens": 0, "tokens_per_second": None,
        "cost_usd": None, "retries": 0}))
    assert ctx.stdout.getvalue() == "■ draft · 1.50 s\n"


def test_a_reply_too_short_to_measure_says_so_instead_of_a_rate(ctx):
    handler = create_handler("console", {}, ctx)
    handler.on_complete(StepResult(step=STEP, text="ok", output_tokens=1, metrics={
        "ttft_s": 0.2, "duration_s": 0.2, "deltas": 1, "tokens_per_second": None}))
    assert ctx.stdout.getvalue() == "■ draft · TTFT 200 ms · 1 token · too short for a rate " \
                                    "· 0.20 s\n"


async def test_header_and_footer_can_be_turned_off(ctx):
    handler = create_handler("console", {"show_header": False, "show_stats": False}, ctx)
    await run_step([handler], claude_events(text="Only this."))
    assert ctx.stdout.getvalue() == "Only this.\n"  # the next step starts a fresh line


def test_quiet_run_writes_nothing(ctx):
    quiet = replace(ctx, quiet=True)
    handler = create_handler("console", {}, quiet)
    assert type(handler) is QuietConsole and handler.name == "console"
    handler.on_event(StepStarted(STEP, "claude", "claude_agent", "m"))
    handler.on_event(TextDelta(STEP, "nothing"))
    handler.close()
    assert quiet.stdout.getvalue() == ""


def test_unknown_or_bad_options_fail_at_load_time():
    with pytest.raises(ValueError, match="colour"):
        validate_options("console", {"colour": "always"})
    with pytest.raises(ValueError, match="color"):
        validate_options("console", {"color": "sometimes"})


def started_event() -> StepStarted:
    return StepStarted(STEP, "claude", "claude_agent", "claude-sonnet-4-5", True)


async def test_on_a_tty_a_spinner_with_the_time_waited_holds_the_line_until_the_first_token(
        ctx, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    stream = FakeTTY()
    handler = create_handler("console", {}, replace(ctx, stdout=stream))
    handler.on_event(started_event())
    await asyncio.sleep(0.35)
    waiting = stream.getvalue()
    handler.on_event(TextDelta(STEP, "Hello"))
    await asyncio.sleep(0.05)
    handler.close()
    out = stream.getvalue()
    frames = waiting.split("\r\x1b[K")[1:]
    assert len(frames) >= 2 and frames[-1].endswith(" s")
    assert " waiting for the first token · 0.3 s" in waiting or \
        " waiting for the first token · 0.2 s" in waiting
    # Wiped before the text: the line holds the text alone.
    assert out.endswith("\r\x1b[KHello")
    await asyncio.sleep(0.25)
    assert stream.getvalue() == out  # no frame after the first token


async def test_no_spinner_off_a_tty_or_when_turned_off(ctx):
    piped = io.StringIO()
    off = FakeTTY()
    handlers = [create_handler("console", {}, replace(ctx, stdout=piped)),
                create_handler("console", {"spinner": False}, replace(ctx, stdout=off))]
    for handler in handlers:
        handler.on_event(started_event())
    await asyncio.sleep(0.25)
    for handler in handlers:
        handler.close()
    assert "waiting" not in piped.getvalue() and "waiting" not in off.getvalue()
