"""The real `anthropic` and `google-genai` SDKs, unchanged, against the local simulator:
tokens arrive one by one over time, usage matches what was sent, and faults surface the
way the real APIs' would."""

from __future__ import annotations

import time

import pytest

from rillet.sim.script import Script, count_tokens, tokenize

pytestmark = [
    pytest.mark.sdk,
    # google-genai's own aiohttp session class; nothing this project can change
    pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession"
                               ":DeprecationWarning"),
]

TEXT = ("Streams should feel alive: every token reaches the reader the moment it exists, "
        "and nothing waits for the whole answer.")
PROMPT = "Tell me why streaming matters"


def rules(*items, timing=None):
    return Script.from_dict({"timing": timing or {"pattern": "fast"}, "rules": list(items)})


# --- anthropic ----------------------------------------------------------------------------


@pytest.fixture
async def clients():
    """Every SDK client a test opens, closed in the test's own loop when it ends."""
    opened = []
    yield opened
    for close in opened:
        await close()


@pytest.fixture
def anthropic_at(clients):
    import anthropic

    def connect(sim):
        client = anthropic.AsyncAnthropic(base_url=sim.base_url, api_key="sim", max_retries=2)
        clients.append(client.close)
        return client

    return connect


def user(prompt):
    return [{"role": "user", "content": prompt}]


async def stream_text(client, prompt, **kwargs):
    """(text pieces, their arrival times since the request, the final message)."""
    pieces, arrivals = [], []
    started = time.perf_counter()
    async with client.messages.stream(model="claude-sim", max_tokens=1024,
                                      messages=user(prompt), **kwargs) as stream:
        async for text in stream.text_stream:
            arrivals.append(time.perf_counter() - started)
            pieces.append(text)
        final = await stream.get_final_message()
    return pieces, arrivals, final


async def test_anthropic_tokens_arrive_one_by_one_spread_over_time(sim_factory, anthropic_at):
    # realistic pacing, sped up: 0.1 s to the first token, then 200 tokens/s ± 30 %
    sim = await sim_factory(rules({"match": "", "text": TEXT}, timing={
        "pattern": "realistic", "first_token_delay_s": 0.1, "tokens_per_second": 200}))
    pieces, arrivals, final = await stream_text(anthropic_at(sim), PROMPT)
    tokens = count_tokens(TEXT)
    assert "".join(pieces) == TEXT
    assert len(pieces) == tokens  # one delta per token, not one blob
    assert arrivals[0] >= 0.09  # the first token waited for its delay ...
    spread = arrivals[-1] - arrivals[0]
    assert spread >= 0.5 * (tokens - 1) / 200  # ... and the rest trickled in
    assert len({round(t, 3) for t in arrivals}) > tokens // 2
    assert final.usage.output_tokens == tokens
    assert final.usage.input_tokens == count_tokens(PROMPT)
    assert final.stop_reason == "end_turn"


async def test_anthropic_slow_timing_paces_each_token(sim_factory, anthropic_at):
    sim = await sim_factory(rules({"match": "", "text": "one two three four five",
                                   "timing": {"pattern": "slow", "first_token_delay_s": 0.0,
                                              "tokens_per_second": 50}}))
    _, arrivals, _ = await stream_text(anthropic_at(sim), PROMPT)
    # Five tokens at 50/s span at least 80 ms; a busy client may read two close together,
    # but the server's timetable never sends them early.
    assert len(arrivals) == 5 and arrivals[-1] - arrivals[0] >= 0.075


async def test_anthropic_thinking_and_text_stream_as_separate_blocks(sim_factory, anthropic_at):
    sim = await sim_factory(rules({"match": "", "thinking": "First I weigh it.",
                                   "text": "Done."}))
    thinking, text = [], []
    async with anthropic_at(sim).messages.stream(
            model="claude-sim", max_tokens=2048, messages=user("think"),
            thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        async for event in stream:
            if event.type == "thinking":
                thinking.append(event.thinking)
            elif event.type == "text":
                text.append(event.text)
        final = await stream.get_final_message()
    assert "".join(thinking) == "First I weigh it." and len(thinking) == 5
    assert "".join(text) == "Done."
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.usage.output_tokens == 5 + 2


async def test_anthropic_tool_use_arrives_as_a_complete_tool_call(sim_factory, anthropic_at):
    sim = await sim_factory(rules({"match": "files", "text": "There are two files.",
                                   "tool_use": {"name": "list_files",
                                                "input": {"path": ".", "all": True}}}))
    client = anthropic_at(sim)
    _, _, first = await stream_text(client, "list the files")
    [call] = first.content
    assert (call.type, call.name, call.input) == ("tool_use", "list_files",
                                                  {"path": ".", "all": True})
    assert first.stop_reason == "tool_use"
    # The tool's result goes back; the rule's text answers it.
    async with client.messages.stream(model="claude-sim", max_tokens=100, messages=[
            {"role": "user", "content": "list the files"},
            {"role": "assistant", "content": [call.model_dump(exclude_none=True)]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                          "content": "a.txt b.txt"}]}]) as stream:
        second = await stream.get_final_message()
    assert second.content[0].text == "There are two files."
    assert second.stop_reason == "end_turn"


async def test_anthropic_sdk_retries_overloaded_until_the_rule_succeeds(sim_factory, anthropic_at):
    sim = await sim_factory(rules({"match": "", "text": "Finally.",
                                   "fault": {"kind": "http_error", "status": 529,
                                             "times": 2}}))
    started = time.perf_counter()
    pieces, _, final = await stream_text(anthropic_at(sim), PROMPT)
    assert "".join(pieces) == "Finally."
    assert len(sim.requests) == 3  # two 529s, then the stream
    assert time.perf_counter() - started < 2  # retry-after told the SDK not to back off


async def test_anthropic_sdk_surfaces_an_error_after_its_retries_run_out(sim_factory, anthropic_at):
    import anthropic

    sim = await sim_factory(rules({"match": "", "fault": {"kind": "http_error",
                                                          "status": 529, "times": 5}}))
    with pytest.raises(anthropic.APIStatusError) as info:
        await stream_text(anthropic_at(sim), PROMPT)
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"
    assert len(sim.requests) == 3  # the first try and the SDK's two retries


async def test_anthropic_dropped_connection_errors_after_the_text_so_far(sim_factory, anthropic_at):
    import httpx2  # the anthropic SDK's HTTP client; it does not wrap errors mid-stream

    sim = await sim_factory(rules({"match": "", "text": TEXT,
                                   "fault": {"kind": "drop", "after_deltas": 4}}))
    pieces = []
    with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
        async with anthropic_at(sim).messages.stream(
                model="claude-sim", max_tokens=100, messages=user(PROMPT)) as stream:
            async for text in stream.text_stream:
                pieces.append(text)
    assert "".join(pieces) == "".join(tokenize(TEXT)[:4])


async def test_anthropic_malformed_event_is_an_error(sim_factory, anthropic_at):
    sim = await sim_factory(rules({"match": "", "text": TEXT,
                                   "fault": {"kind": "malformed", "after_deltas": 2}}))
    with pytest.raises(ValueError):
        await stream_text(anthropic_at(sim), PROMPT)


async def test_anthropic_non_streaming_call_gets_the_whole_message(sim_factory, anthropic_at):
    sim = await sim_factory(rules({"match": "", "text": TEXT}))
    message = await anthropic_at(sim).messages.create(
        model="claude-sim", max_tokens=100, messages=user(PROMPT), system="Be kind.")
    assert message.content[0].text == TEXT
    assert message.usage.output_tokens == count_tokens(TEXT)
    assert message.usage.input_tokens == count_tokens(PROMPT) + count_tokens("Be kind.")


async def test_anthropic_count_tokens_matches_the_usage_figure(sim, anthropic_at):
    count = await anthropic_at(sim).messages.count_tokens(
        model="claude-sim", messages=user(PROMPT))
    assert count.input_tokens == count_tokens(PROMPT)


# --- google-genai -------------------------------------------------------------------------


@pytest.fixture
def genai_at(clients):
    from google import genai
    from google.genai import types

    def connect(sim, attempts=1):
        retry = types.HttpRetryOptions(attempts=attempts, initial_delay=0.0, max_delay=0.0,
                                       jitter=0.0) if attempts > 1 else None
        client = genai.Client(api_key="sim", http_options=types.HttpOptions(
            base_url=sim.base_url, retry_options=retry))
        clients.append(client.aio.aclose)
        return client

    return connect


async def gemini_stream(client, prompt, **config):
    """(chunks, their arrival times since the request)."""
    chunks, arrivals = [], []
    started = time.perf_counter()
    async for chunk in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents=prompt, config=config or None):
        arrivals.append(time.perf_counter() - started)
        chunks.append(chunk)
    return chunks, arrivals


async def test_gemini_tokens_arrive_one_by_one_spread_over_time(sim_factory, genai_at):
    sim = await sim_factory(rules({"match": "", "text": TEXT}, timing={
        "pattern": "realistic", "first_token_delay_s": 0.1, "tokens_per_second": 200}))
    chunks, arrivals = await gemini_stream(genai_at(sim), PROMPT)
    tokens = count_tokens(TEXT)
    assert "".join(c.text for c in chunks) == TEXT
    assert len(chunks) == tokens
    assert arrivals[0] >= 0.09
    assert arrivals[-1] - arrivals[0] >= 0.5 * (tokens - 1) / 200
    usage = chunks[-1].usage_metadata
    assert usage.candidates_token_count == tokens
    assert usage.prompt_token_count == count_tokens(PROMPT)
    assert usage.total_token_count == tokens + count_tokens(PROMPT)
    assert chunks[-1].candidates[0].finish_reason.value == "STOP"
    assert [c.usage_metadata.candidates_token_count for c in chunks] == list(
        range(1, tokens + 1))


async def test_gemini_thoughts_are_marked_and_counted_apart(sim_factory, genai_at):
    sim = await sim_factory(rules({"match": "", "thinking": "Weighing it.", "text": "Yes."}))
    chunks, _ = await gemini_stream(genai_at(sim), "think")
    thoughts = [p.text for c in chunks for p in c.candidates[0].content.parts if p.thought]
    assert "".join(thoughts) == "Weighing it."
    assert "".join(c.text or "" for c in chunks) == "Yes."
    assert chunks[-1].usage_metadata.thoughts_token_count == 3


async def test_gemini_sdk_retries_unavailable_until_the_rule_succeeds(sim_factory, genai_at):
    sim = await sim_factory(rules({"match": "", "text": "Finally.",
                                   "fault": {"kind": "http_error", "status": 503,
                                             "times": 2}}))
    chunks, _ = await gemini_stream(genai_at(sim, attempts=3), PROMPT)
    assert "".join(c.text for c in chunks) == "Finally."
    assert len(sim.requests) == 3


async def test_gemini_error_without_retries_names_the_status(sim_factory, genai_at):
    from google.genai import errors

    sim = await sim_factory(rules({"match": "", "fault": {"kind": "http_error",
                                                          "status": 429}}))
    with pytest.raises(errors.ClientError) as info:
        await gemini_stream(genai_at(sim), PROMPT)
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"


async def test_gemini_dropped_connection_is_an_error(sim_factory, genai_at):
    sim = await sim_factory(rules({"match": "", "text": TEXT,
                                   "fault": {"kind": "drop", "after_deltas": 3}}))
    import aiohttp  # google-genai's async transport when aiohttp is installed

    received = []
    with pytest.raises(aiohttp.ClientPayloadError, match="not completed"):
        async for chunk in await genai_at(sim).aio.models.generate_content_stream(
                model="gemini-2.5-flash", contents=PROMPT):
            received.append(chunk.text)
    assert "".join(received) == "".join(tokenize(TEXT)[:3])


async def test_gemini_non_streaming_call_gets_the_whole_reply(sim_factory, genai_at):
    sim = await sim_factory(rules({"match": "", "text": TEXT}))
    response = await genai_at(sim).aio.models.generate_content(
        model="gemini-2.5-flash", contents=PROMPT)
    assert response.text == TEXT
    assert response.usage_metadata.candidates_token_count == count_tokens(TEXT)
