"""console with concurrent steps on one stream: piped, whole lines prefixed by the path; on
a TTY, a live view of lanes and each step's output printed whole, in start order. A step
alone on the stream keeps the plain output."""

from __future__ import annotations

import asyncio
import io
import re

from handler_streams import FakeTTY
from rillet.events import StepStarted, TextDelta, ThinkingDelta, Usage
from rillet.result import StepResult
from rillet.streaming.handler import HandlerContext, create_handler
from rillet.streaming.handlers import _lanes

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def console(step: str, stream, **options):
    return create_handler("console", {"flush_interval_ms": 0, **options},
                          HandlerContext(step=step, stdout=stream))


def start(handler, step: str) -> None:
    handler.on_event(StepStarted(step, "claude", "mock", "m1"))


def finish(handler, step: str, text: str) -> None:
    handler.on_complete(StepResult(step=step, text=text, output_tokens=3,
                                   metrics={"duration_s": 0.5, "deltas": 3}))
    handler.close()


def interleave(stream, texts: dict[str, list[str]]) -> None:
    """Start every step, then feed their deltas round-robin, then end them in reverse."""
    handlers = {step: console(step, stream) for step in texts}
    for step, handler in handlers.items():
        start(handler, step)
    longest = max(len(parts) for parts in texts.values())
    for i in range(longest):
        for step, parts in texts.items():
            if i < len(parts):
                handlers[step].on_event(TextDelta(step, parts[i]))
                handlers[step]._out.flush()  # as the loop would between two network reads
    for step in reversed(list(texts)):
        finish(handlers[step], step, "".join(texts[step]))


BRANCHES = {
    "fanout.a": ["Alpha one ", "ends\nAlpha ", "two\n", "Alpha three"],
    "fanout.b": ["Beta one\n", "Beta two ", "ends\n"],
}


def test_piped_concurrent_steps_write_whole_lines_prefixed_by_their_path():
    stream = io.StringIO()
    interleave(stream, BRANCHES)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "▶ fanout.a · m1 · mock"  # alone when it started
    of_a = [line.removeprefix("fanout.a │ ") for line in lines if line.startswith("fanout.a │ ")]
    of_b = [line.removeprefix("fanout.b │ ") for line in lines if line.startswith("fanout.b │ ")]
    assert of_a[:3] == ["Alpha one ends", "Alpha two", "Alpha three"]
    assert of_a[3].startswith("■ fanout.a · 3 tokens")
    assert of_b == ["▶ fanout.b · m1 · mock", "Beta one", "Beta two ends",
                    "■ fanout.b · 3 tokens · 0.50 s"]
    # Every line is whole: nothing but the first header goes out without a prefix.
    assert all(line.startswith(("fanout.a │ ", "fanout.b │ ")) for line in lines[1:])
    # Lines come out as they complete, interleaved, not one branch after the other.
    order = [line.split(" │ ")[0] for line in lines[1:]]
    assert order.index("fanout.b") < order.index("fanout.a") < len(order) - 1 - order[::-1].index("fanout.b")


def test_a_step_joining_mid_line_starts_the_first_steps_rest_on_a_prefixed_line():
    stream = io.StringIO()
    first = console("loop[0]", stream)
    start(first, "loop[0]")
    first.on_event(TextDelta("loop[0]", "half a li"))
    second = console("loop[1]", stream)
    start(second, "loop[1]")
    first.on_event(TextDelta("loop[0]", "ne\n"))
    finish(first, "loop[0]", "half a line\n")
    finish(second, "loop[1]", "")
    lines = stream.getvalue().splitlines()
    assert lines[:2] == ["▶ loop[0] · m1 · mock", "half a li"]
    assert "loop[0] │ ne" in lines


def test_after_the_concurrent_steps_end_the_next_step_writes_plainly_again():
    stream = io.StringIO()
    interleave(stream, BRANCHES)
    before = stream.getvalue()
    alone = console("summary", stream)
    start(alone, "summary")
    alone.on_event(TextDelta("summary", "All done."))
    alone._out.flush()
    finish(alone, "summary", "All done.")
    after = stream.getvalue()[len(before):]
    assert after.startswith("▶ summary · m1 · mock\nAll done.\n■ summary")
    assert "│" not in after
    assert _lanes._SCREENS == {}  # nothing is left behind once every step has ended


def test_on_a_tty_each_step_is_printed_whole_in_start_order_and_the_lanes_vanish():
    stream = FakeTTY()
    interleave(stream, BRANCHES)
    shown = ANSI.sub("", stream.getvalue())
    # What stays above the (transient) live view is each step's output, one after the other.
    a_text = shown.index("Alpha one ends\nAlpha two\nAlpha three\n■ fanout.a")
    b_header = shown.index("▶ fanout.b · m1 · mock\nBeta one\nBeta two ends\n■ fanout.b")
    assert shown.index("▶ fanout.a") < a_text < b_header
    assert _lanes.live_console(stream) is None


async def test_on_a_tty_the_live_view_shows_each_running_step_with_its_figures():
    stream = FakeTTY()
    a, b = console("fanout.a", stream), console("fanout.b", stream)
    start(a, "fanout.a")
    start(b, "fanout.b")
    a.on_event(ThinkingDelta("fanout.a", "pondering"))
    a.on_event(TextDelta("fanout.a", "first line\nlatest words"))
    b.on_event(Usage("fanout.b", 10, 42))
    b.on_event(TextDelta("fanout.b", "beta so far"))
    a._out.flush()
    b._out.flush()
    view = _lanes.live_console(stream)
    assert view is not None
    with view.capture() as captured:
        view.print(_lanes._LaneView(_lanes.screen_for(stream)))
    rows = ANSI.sub("", captured.get()).splitlines()
    assert rows[0].startswith("▶ fanout.a · ") and rows[0].endswith("│ latest words")
    assert rows[1].startswith("▶ fanout.b · ") and "42 tokens │ beta so far" in rows[1]
    # Ended first, printed after: b waits for a, which started before it.
    finish(b, "fanout.b", "beta so far")
    assert "beta so far\n■ fanout.b" not in ANSI.sub("", stream.getvalue())
    finish(a, "fanout.a", "first line\nlatest words")
    shown = ANSI.sub("", stream.getvalue())
    assert shown.index("latest words\n■ fanout.a") < shown.index("beta so far\n■ fanout.b")


def test_model_text_in_a_lane_is_not_read_as_markup():
    stream = FakeTTY()
    interleave(stream, {"p.x": ["[bold]kept[/bold] as written\n"], "p.y": ["y\n"]})
    assert "[bold]kept[/bold] as written" in ANSI.sub("", stream.getvalue())


def test_the_run_reporter_prints_above_the_lanes_while_they_are_live(tmp_path):
    from rillet.cli_report import RunReporter
    from rillet.events import StepSkipped

    stream = FakeTTY()
    reporter = RunReporter(stream, tmp_path)
    a, b = console("fanout.a", stream), console("fanout.b", stream)
    start(a, "fanout.a")
    start(b, "fanout.b")
    live = _lanes.live_console(stream)
    with live.capture() as captured:  # what goes through the live view's console
        reporter.on_event(StepSkipped("fanout.c", "condition is false"))
    assert "○ fanout.c: skipped (condition is false)" in captured.get()
    finish(a, "fanout.a", "")
    finish(b, "fanout.b", "")
    reporter.on_event(StepSkipped("after", "condition is false"))
    assert stream.getvalue().endswith("○ after: skipped (condition is false)\x1b[0m\n")


TWO_STEPS = """
workflow:
  name: {name}
  steps:
    - name: {step}
      type: claude
      prompt: "Write"
      mock:
        text: "{text}"
        timing: {{pattern: slow, first_token_delay_s: 0, tokens_per_second: 300}}
"""


async def test_two_runs_streaming_at_once_through_the_executor_share_the_console_by_lines(tmp_path):
    """The real executor and mock provider, two steps streaming concurrently to one piped
    stream (two runs in one loop: what parallel branches do to the console)."""
    import asyncio

    import rillet
    from rillet.workflow.loader import loads_workflow

    lines_a = [f"alpha line {i} with a few words" for i in range(6)]
    lines_b = [f"beta line {i} with a few words" for i in range(6)]
    stream = io.StringIO()
    flows = [loads_workflow(TWO_STEPS.format(name=name, step=step, text="\\n".join(lines)))
             for name, step, lines in (("a", "branch_a", lines_a), ("b", "branch_b", lines_b))]
    results = await asyncio.gather(*(
        rillet.run_async(flow, mode="mock", output_dir=tmp_path, stdout=stream,
                         default_handlers=["console"]) for flow in flows))
    assert all(r.success for r in results)
    shown = stream.getvalue().splitlines()
    for label, lines in (("branch_a", lines_a), ("branch_b", lines_b)):
        mine = [line.split(" │ ", 1)[1] for line in shown if line.startswith(label + " │ ")]
        text = [line for line in mine if not line.startswith(("▶", "■"))]
        # Whole lines, in order (the first step may have written a line before the second
        # one started, unprefixed, as a step alone does).
        assert len(text) >= 4 and text == lines[len(lines) - len(text):]
        assert mine[-1].startswith(f"■ {label} · ")
    # Interleaved, yet no line holds text of both steps.
    assert not any("alpha" in line and "beta" in line for line in shown)
    owners = [line.split(" │ ")[0] for line in shown if " │ " in line]
    assert owners.index("branch_b") < len(owners) - 1 - owners[::-1].index("branch_a")


def test_a_lane_longer_than_the_terminal_shows_its_newest_words():
    stream = FakeTTY()
    a, b = console("p.a", stream), console("p.b", stream)
    start(a, "p.a")
    start(b, "p.b")
    a.on_event(TextDelta("p.a", " ".join(f"w{i}" for i in range(300))))
    a._out.flush()
    view = _lanes.live_console(stream)
    with view.capture() as captured:
        view.print(_lanes._LaneView(_lanes.screen_for(stream)))
    row = ANSI.sub("", captured.get()).replace("\r", "").splitlines()[0]
    assert row.endswith(" w298 w299") and "│ …" in row and len(row) <= view.width
    finish(a, "p.a", "")
    finish(b, "p.b", "")


async def test_on_a_tty_the_spinner_gives_way_to_the_lanes_and_comes_back_for_a_lone_step(
        monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    stream = FakeTTY()
    a = console("fanout.a", stream)
    start(a, "fanout.a")
    await asyncio.sleep(0.25)
    assert "waiting for the first token" in stream.getvalue()  # alone: the spinner holds the line
    b = console("fanout.b", stream)
    start(b, "fanout.b")
    # The frame is wiped before the lanes take the stream; the live view shows the wait.
    after_last_frame = stream.getvalue().rpartition("waiting for the first token")[2]
    assert re.match(r" · \d+\.\d s\r\x1b\[K", after_last_frame), after_last_frame
    shared_from = len(stream.getvalue())
    await asyncio.sleep(0.35)
    assert "waiting for the first token" not in stream.getvalue()[shared_from:]
    view = _lanes.live_console(stream)
    with view.capture() as captured:
        view.print(_lanes._LaneView(_lanes.screen_for(stream)))
    rows = ANSI.sub("", captured.get()).splitlines()
    assert any(row.startswith("▶ fanout.a · 0.") for row in rows), rows  # seconds waited
    assert any(row.startswith("▶ fanout.b · 0.") for row in rows), rows
    finish(a, "fanout.a", "")
    finish(b, "fanout.b", "")
    lone = console("after", stream)
    start(lone, "after")
    ended_at = len(stream.getvalue())
    await asyncio.sleep(0.25)
    assert "waiting for the first token" in stream.getvalue()[ended_at:]
    lone.close()
