"""callback: a function by dotted path or in code; filter; rate limit that keeps all text;
async functions awaited in drain(); errors propagate to the executor."""

from __future__ import annotations

import asyncio
import textwrap
from itertools import groupby

import pytest
from pydantic import ValidationError

from handler_streams import STEP, claude_events, run_step
from rillet.events import (
    Event, MessageComplete, StepCompleted, StepFailed, TextDelta, ThinkingDelta, ToolUse,
)
from rillet.streaming.handler import create_handler, validate_options

TEXT = "One, two, three; four five six seven eight nine ten."


def runs(events: list[Event]) -> list[tuple[str, str]]:
    """(type, joined text) per run of consecutive events of one type."""
    out = []
    for kind, group in groupby(events, key=lambda e: type(e).__name__):
        out.append((kind, "".join(getattr(e, "text", "") for e in group)))
    return out


@pytest.fixture
def hooks_module(tmp_path, monkeypatch):
    """A user's module on the path, as a workflow's `function:` would name it."""
    folder = tmp_path / "userpkg"
    folder.mkdir()
    (folder / "my_hooks.py").write_text(textwrap.dedent("""
        seen = []

        def on_event(event):
            seen.append(event)

        NOT_A_FUNCTION = 42
    """))
    monkeypatch.syspath_prepend(str(folder))
    import my_hooks

    yield my_hooks
    monkeypatch.delitem(__import__("sys").modules, "my_hooks")


async def test_a_function_named_by_dotted_path_sees_every_event_in_order(ctx, hooks_module):
    options = validate_options("callback", {"function": "my_hooks:on_event"})
    handler = create_handler("callback", options, ctx)
    events = claude_events(text=TEXT)
    result, warnings = await run_step([handler], events)
    assert warnings == []
    seen = hooks_module.seen
    assert seen[1:-1] == events  # between StepStarted and StepCompleted, as emitted
    assert type(seen[-1]) is StepCompleted and seen[-1].text == result.text == TEXT


def test_the_dotted_path_can_use_a_dot_too(hooks_module):
    assert validate_options("callback", {"function": "my_hooks.on_event"}).function \
        is hooks_module.on_event


@pytest.mark.parametrize("path, message", [
    ("no_such_module_xyz:f", "cannot import callback 'no_such_module_xyz:f'"),
    ("my_hooks:missing", "has no attribute 'missing'"),
    ("my_hooks:NOT_A_FUNCTION", "is a int, not a function"),
    ("justaname", "is not a dotted path"),
])
def test_a_bad_function_fails_at_load_time(hooks_module, path, message):
    with pytest.raises(ValidationError, match=message):
        validate_options("callback", {"function": path})


def test_the_function_option_is_required():
    with pytest.raises(ValidationError, match="function"):
        validate_options("callback", {})


async def test_a_callable_passed_in_code(ctx):
    got: list[Event] = []
    handler = create_handler("callback", {"function": got.append}, ctx)
    await run_step([handler], claude_events(text="hi"))
    assert "".join(e.text for e in got if type(e) is TextDelta) == "hi"


async def test_events_filter_keeps_only_the_named_types(ctx):
    got: list[Event] = []
    handler = create_handler("callback", {"function": got.append,
                                          "events": ["ToolUse", "StepCompleted"]}, ctx)
    await run_step([handler], claude_events(text="x", tool_use={"name": "Read", "input": {}}))
    assert [type(e) for e in got] == [ToolUse, StepCompleted]


def test_unknown_event_type_in_the_filter_fails_at_load_time():
    with pytest.raises(ValidationError, match="did you mean TextDelta"):
        validate_options("callback", {"function": print, "events": ["TextDeltas"]})


async def test_rate_limit_coalesces_deltas_and_keeps_every_character(ctx):
    got: list[Event] = []
    handler = create_handler("callback", {"function": got.append,
                                          "max_calls_per_s": 0.001}, ctx)
    events = claude_events(text=TEXT, thinking="Let me think about this carefully.",
                           tool_use={"name": "Bash", "input": {"command": "ls"}})
    await run_step([handler], events)
    texts = [e for e in got if type(e) is TextDelta]
    assert len(texts) < sum(type(e) is TextDelta for e in events)  # fewer calls…
    assert "".join(e.text for e in texts) == TEXT  # …but all the text, in order
    # Order across kinds is kept: the same runs, each run's text whole.
    expected = runs([e for e in events])
    assert runs(got)[1:-1] == expected


async def test_held_text_is_delivered_by_a_timer_while_the_stream_is_quiet(ctx):
    got: list[Event] = []
    handler = create_handler("callback", {"function": got.append,
                                          "max_calls_per_s": 20}, ctx)
    handler.on_event(TextDelta(STEP, "a"))  # goes at once
    handler.on_event(TextDelta(STEP, "b"))  # within 50 ms: held
    handler.on_event(TextDelta(STEP, "c"))
    assert [e.text for e in got] == ["a"]
    await asyncio.sleep(0.2)
    assert [e.text for e in got] == ["a", "bc"]
    handler.close()


def test_without_a_loop_held_text_goes_with_the_next_event(ctx):
    got: list[Event] = []
    handler = create_handler("callback", {"function": got.append,
                                          "max_calls_per_s": 0.001}, ctx)
    handler.on_event(ThinkingDelta(STEP, "hm"))
    handler.on_event(TextDelta(STEP, "a"))  # a new kind: the thinking goes first
    handler.on_event(TextDelta(STEP, "b"))
    handler.on_event(MessageComplete(STEP, "end_turn"))
    assert [(type(e).__name__, getattr(e, "text", "")) for e in got] == [
        ("ThinkingDelta", "hm"), ("TextDelta", "ab"), ("MessageComplete", "")]


async def test_async_function_runs_in_order_and_drain_waits_for_it(ctx):
    got: list[str] = []

    async def slow(event: Event) -> None:
        await asyncio.sleep(0)
        got.append(type(event).__name__)

    handler = create_handler("callback", {"function": slow}, ctx)
    events = claude_events(text=TEXT)
    await run_step([handler], events)
    assert got == ["StepStarted", *[type(e).__name__ for e in events], "StepCompleted"]


async def test_sync_error_detaches_the_handler_and_the_step_keeps_its_text(ctx):
    calls = 0

    def broken(event: Event) -> None:
        nonlocal calls
        calls += 1
        if type(event) is TextDelta:
            raise RuntimeError("callback bug")

    handler = create_handler("callback", {"function": broken}, ctx)
    result, warnings = await run_step([handler], claude_events(text=TEXT))
    assert result.text == TEXT and result.status == "completed"
    assert len(warnings) == 1
    assert "handler 'callback' failed and was detached (RuntimeError: callback bug)" \
        in warnings[0]
    first_text = next(i for i, e in enumerate(claude_events(text=TEXT))
                      if type(e) is TextDelta)
    assert calls == first_text + 2  # StepStarted, the events before the text, the text


async def test_async_error_propagates_and_detaches_the_handler(ctx):
    async def broken(event: Event) -> None:
        if type(event) is StepCompleted:
            raise ValueError("async callback bug")

    handler = create_handler("callback", {"function": broken}, ctx)
    result, warnings = await run_step([handler], claude_events(text=TEXT))
    assert result.text == TEXT
    assert len(warnings) == 1 and "ValueError: async callback bug" in warnings[0]


async def test_async_error_mid_stream_is_raised_on_the_next_event(ctx):
    async def broken(event: Event) -> None:
        raise ValueError("early")

    handler = create_handler("callback", {"function": broken}, ctx)
    handler.on_event(TextDelta(STEP, "a"))
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="early"):
        handler.on_event(TextDelta(STEP, "b"))
    handler.close()


async def test_a_failed_step_still_delivers_step_failed_to_an_async_function(ctx):
    got: list[str] = []

    async def record(event: Event) -> None:
        await asyncio.sleep(0)
        got.append(type(event).__name__)

    handler = create_handler("callback", {"function": record}, ctx)
    await run_step([handler], claude_events(text=TEXT), fail_after=5)
    for _ in range(20):  # the failed step is not drained: the calls finish on the loop
        await asyncio.sleep(0)
    assert got[-1] == "StepFailed" and got[0] == "StepStarted"


def test_drain_runs_awaitables_queued_without_a_loop(ctx):
    got: list[str] = []

    async def record(event: Event) -> None:
        got.append(event.text)

    handler = create_handler("callback", {"function": record}, ctx)
    handler.on_event(TextDelta(STEP, "a"))
    handler.on_event(TextDelta(STEP, "b"))
    assert got == []
    asyncio.run(handler.drain())
    assert got == ["a", "b"]
    handler.close()


def test_close_without_a_loop_closes_unrun_coroutines_quietly(ctx, recwarn):
    async def record(event: Event) -> None:
        pass

    handler = create_handler("callback", {"function": record}, ctx)
    handler.on_event(StepFailed(STEP, "x"))
    handler.close()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]
